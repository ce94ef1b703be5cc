import { useEffect, useState } from "react";
import { describeError } from "../lib/api";
import { type Me } from "../lib/auth";
import { type Balance, getPlans, hoursLabel, minutes, type Plans, startCheckout } from "../lib/billing";
import { ErrorText } from "../components/ErrorText";
import { Link } from "../components/Link";

const KIND_ROWS: [string, (c: Plans["costs"]) => string][] = [
  ["Split into stems", (c) => `${c.stems_per_minute} tokens a minute (2 stems, balanced); x${c.stems_factors["4"] ?? 1} for 4 stems, x${c.stems_factors["6"] ?? 1} for 6`],
  ["Clean speech", (c) => `${c.speech_per_minute} tokens a minute (balanced)`],
  ["Audio to MIDI", (c) => `${c.midi_per_file} tokens a file`],
  ["Server-side mix", (c) => `${c.stems_export} token${c.stems_export === 1 ? "" : "s"} a mix`],
];

/** Plans, pay-as-you-go costs and token packs: the same table the server applies (GET /api/plans). Works signed out. */
export function PricingPage({ me, balance }: { me: Me | null; balance: Balance | null }) {
  const [plans, setPlans] = useState<Plans | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<string | null>(null);
  useEffect(() => {
    getPlans().then(setPlans, setError);
  }, []);
  const signedIn = !!me?.user;
  const current = balance?.metering ? balance.plan.id : null;
  const notice = new URLSearchParams(window.location.search).get("checkout") === "cancelled";

  const buy = async (item: { plan: string } | { pack: string }, key: string) => {
    setBusy(key);
    setError(null);
    try {
      await startCheckout(item);
    } catch (err) {
      setError(describeError(err));
      setBusy(null);
    }
  };

  if (!plans) return <div className="page">{error ? <ErrorText error={error} /> : <p className="muted">Loading plans…</p>}</div>;
  return (
    <div className="page pricing-page" data-testid="pricing">
      <h1>Plans and pricing</h1>
      {!plans.usage_tokens_enabled && (
        <p className="muted" data-testid="pricing-unmetered">
          This server does not meter usage: every job is free here. The table shows what a metered server charges.
        </p>
      )}
      {notice && <p className="muted">The checkout was cancelled; nothing was charged.</p>}
      <div className="plan-grid">
        {plans.plans.map((p) => (
          <section key={p.id} className={`plan-card${current === p.id ? " current" : ""}`} data-testid={`plan-${p.id}`}>
            <h2>{p.name}</h2>
            <p className="plan-price">{p.monthly_price_usd ? `$${p.monthly_price_usd} / month` : "Free"}</p>
            <p className="muted">{p.blurb}</p>
            <ul>
              <li data-testid={`plan-${p.id}-tokens`}>{p.monthly_tokens} tokens every month</li>
              <li>{p.stems.join(", ")} stems</li>
              <li>Quality: {p.qualities.join(", ")}</li>
              <li>Files up to {minutes(p.max_duration_s)}</li>
              <li>{p.concurrent_jobs} jobs at once</li>
              <li>Files kept {hoursLabel(p.retention_hours)}</li>
            </ul>
            {current === p.id ? (
              <p className="muted" data-testid={`plan-${p.id}-current`}>Your plan</p>
            ) : p.purchasable && signedIn ? (
              <button type="button" className="btn-primary" disabled={!!busy} onClick={() => void buy({ plan: p.id }, p.id)} data-testid={`buy-${p.id}`}>
                {busy === p.id ? "Opening checkout…" : `Choose ${p.name}`}
              </button>
            ) : p.purchasable ? (
              <Link href="/sign-up" className="button" data-testid={`sign-up-${p.id}`}>
                Sign up to choose {p.name}
              </Link>
            ) : null}
          </section>
        ))}
      </div>
      <h2>Pay as you go</h2>
      <p>Every job costs tokens by what it does; the cost is shown before you submit, and a job that fails or is cancelled gives its tokens back.</p>
      <table className="cost-table" data-testid="cost-table">
        <tbody>
          {KIND_ROWS.map(([label, text]) => (
            <tr key={label}>
              <th scope="row">{label}</th>
              <td>{text(plans.costs)}</td>
            </tr>
          ))}
          <tr>
            <th scope="row">Quality</th>
            <td>{Object.entries(plans.costs.quality_factors).map(([k, v]) => `${k} x${v}`).join(", ")}</td>
          </tr>
        </tbody>
      </table>
      <h2>Token packs</h2>
      <p className="muted">Tokens from a pack never expire and add to your plan&apos;s monthly tokens.</p>
      <div className="plan-grid">
        {plans.packs.map((pack) => (
          <section key={pack.id} className="plan-card" data-testid={`pack-${pack.id}`}>
            <h3>{pack.name}</h3>
            <p className="plan-price">${pack.price_usd}</p>
            {pack.purchasable && signedIn && (
              <button type="button" className="btn-primary" disabled={!!busy} onClick={() => void buy({ pack: pack.id }, pack.id)} data-testid={`buy-pack-${pack.id}`}>
                {busy === pack.id ? "Opening checkout…" : "Buy"}
              </button>
            )}
          </section>
        ))}
      </div>
      <ErrorText error={error} testId="pricing-error" />
      {!signedIn && me?.auth_required && (
        <p>
          <Link href="/sign-in" data-testid="pricing-sign-in">Sign in</Link> or <Link href="/sign-up">create an account</Link> to start.
        </p>
      )}
    </div>
  );
}
