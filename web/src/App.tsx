import { Link } from "./components/Link";
import { HistoryPage } from "./pages/HistoryPage";
import { MidiPage } from "./pages/MidiPage";
import { SpeechPage } from "./pages/SpeechPage";
import { SplitPage } from "./pages/SplitPage";
import { StemsJobPage } from "./pages/StemsJobPage";
import { matchPath, useLocation } from "./lib/router";

const NAV = [
  { href: "/", label: "Split" },
  { href: "/speech", label: "Clean speech" },
  { href: "/midi", label: "MIDI" },
  { href: "/history", label: "History" },
];

export function App() {
  const { path, query } = useLocation();
  let page;
  let params: Record<string, string> | null;
  if (path === "/" || path === "/split") page = <SplitPage />;
  else if ((params = matchPath("/stems/:id", path))) page = <StemsJobPage key={params.id} jobId={params.id} queryToken={query.get("token")} />;
  else if (path === "/speech") page = <SpeechPage key={query.get("job") ?? ""} initialJob={query.get("job")} />;
  else if (path === "/midi") page = <MidiPage jobId={query.get("job")} sourceJob={query.get("source")} />;
  else if (path === "/history") page = <HistoryPage />;
  else page = <p className="page error">No such page: {path}</p>;

  const active = (href: string) => (href === "/" ? path === "/" || path === "/split" || path.startsWith("/stems/") : path.startsWith(href));

  return (
    <div className="app">
      <header className="topbar">
        <Link href="/" className="brand">
          <img src="/favicon.svg" alt="" width={22} height={22} /> Burnt Beats
        </Link>
        <nav aria-label="Main">
          {NAV.map((n) => (
            <Link key={n.href} href={n.href} className={active(n.href) ? "active" : ""}>
              {n.label}
            </Link>
          ))}
        </nav>
      </header>
      <main>{page}</main>
      <footer className="footer">
        <a href="/docs" target="_blank" rel="noreferrer" data-testid="api-docs-link">
          API documentation
        </a>
      </footer>
    </div>
  );
}
