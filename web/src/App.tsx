import { AccountMenu } from "./components/AccountMenu";
import { BalanceBadge } from "./components/BalanceBadge";
import { Link } from "./components/Link";
import { useMe } from "./lib/auth";
import { useBalance } from "./lib/billing";
import { AccountPage } from "./pages/AccountPage";
import { ApiKeysPage } from "./pages/ApiKeysPage";
import { HistoryPage } from "./pages/HistoryPage";
import { MidiPage } from "./pages/MidiPage";
import { PricingPage } from "./pages/PricingPage";
import { SignInPage } from "./pages/SignInPage";
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
  const { me } = useMe();
  // With accounts on (AUTH_REQUIRED), nobody signed in sees only the sign-in / sign-up page. Until the server
  // has said, pages render as with accounts off (the default), so a single-user install never waits for it.
  const signedOut = !!me?.auth_required && !me.user;
  let page;
  let params: Record<string, string> | null;
  // Plans and usage tokens (USAGE_TOKENS_ENABLED): the pricing page is for everyone, signed in or not.
  const balance = useBalance(!!me?.auth_required && !!me.user);
  if (path === "/pricing") page = <PricingPage me={me} balance={balance} />;
  else if (me && signedOut) page = <SignInPage me={me} mode={path === "/sign-up" ? "sign-up" : "sign-in"} />;
  else if (path === "/account" && me?.auth_required && me.user) page = <AccountPage balance={balance} />;
  else if (path === "/account/keys" && me?.auth_required) page = <ApiKeysPage />;
  else if (path === "/" || path === "/split" || path === "/sign-in" || path === "/sign-up") page = <SplitPage balance={balance} />;
  else if ((params = matchPath("/stems/:id", path))) page = <StemsJobPage key={params.id} jobId={params.id} queryToken={query.get("token")} />;
  else if (path === "/speech") page = <SpeechPage key={query.get("job") ?? ""} initialJob={query.get("job")} balance={balance} />;
  else if (path === "/midi") page = <MidiPage jobId={query.get("job")} sourceJob={query.get("source")} balance={balance} />;
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
          {!signedOut &&
            NAV.map((n) => (
              <Link key={n.href} href={n.href} className={active(n.href) ? "active" : ""}>
                {n.label}
              </Link>
            ))}
        </nav>
        {(balance?.metering || signedOut) && (
          <Link href="/pricing" className={path === "/pricing" ? "pricing-link active" : "pricing-link"} data-testid="pricing-link">
            Pricing
          </Link>
        )}
        <BalanceBadge balance={balance} />
        {me && <AccountMenu me={me} />}
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
