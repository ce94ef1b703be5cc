import { useEffect, useState } from "react";
import { describeError } from "../lib/api";
import { type Balance, getLedger, type LedgerEntry, minutes, openPortal } from "../lib/billing";
import { ErrorText } from "../components/ErrorText";
import { Link } from "../components/Link";

const ENTRY_LABELS: Record<string, string> = {
  grant: "Monthly tokens",
  purchase: "Pack bought",
  reserve: "Job reserved",
  settle: "Job done",
  refund: "Refund",
  adjust: "Adjustment",
};

/** The signed-in account's plan, tokens and ledger, and the Stripe billing portal. */
export function AccountPage({ balance }: { balance: Balance | null }) {
  const [entries, setEntries] = useState<LedgerEntry[]>([]);
  const [next, setNext] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [portalError, setPortalError] = useState<string | null>(null);
  const stamp = balance ? `${balance.balance}/${balance.held}` : "";
  useEffect(() => {
    getLedger().then((page) => {
      setEntries(page.entries);
      setNext(page.next_before);
    }, setError);
  }, [stamp]);
  const more = async () => {
    try {
      const page = await getLedger(next);
      setEntries((e) => [...e, ...page.entries]);
      setNext(page.next_before);
    } catch (err) {
      setError(err);
    }
  };
  const portal = async () => {
    setPortalError(null);
    try {
      await openPortal();
    } catch (err) {
      setPortalError(describeError(err));
    }
  };
  if (!balance) return <p className="page muted">Loading your account…</p>;
  if (!balance.metering) return <p className="page muted" data-testid="account-unmetered">This server does not meter usage: there are no plans or tokens to show.</p>;
  const checkout = new URLSearchParams(window.location.search).get("checkout") === "success";
  return (
    <div className="page account-page" data-testid="account-page">
      <h1>Your plan and tokens</h1>
      {checkout && <p data-testid="checkout-done">Thank you: your purchase shows here as soon as Stripe confirms it (usually seconds).</p>}
      <div className="account-summary">
        <p>
          <strong data-testid="account-plan">{balance.plan.name}</strong> plan: {balance.plan.monthly_tokens} tokens a month, {balance.plan.stems.join(" / ")} stems,{" "}
          {balance.plan.qualities.join(", ")}, files up to {minutes(balance.plan.max_duration_s)}, {balance.plan.concurrent_jobs} jobs at once.
          {balance.subscription_status && <span className="muted"> Subscription: {balance.subscription_status}.</span>}
        </p>
        <p>
          Balance: <strong data-testid="account-balance">{balance.balance}</strong> tokens
          {balance.held > 0 && <span className="muted"> ({balance.held} held by queued and running jobs)</span>}
        </p>
        <div className="form-row">
          <Link href="/pricing" className="button" data-testid="account-pricing">
            Plans and packs
          </Link>
          {balance.has_billing_account && (
            <button type="button" className="btn-small" onClick={() => void portal()} data-testid="billing-portal">
              Billing portal (invoices, card, cancel)
            </button>
          )}
        </div>
        {portalError && <ErrorText error={portalError} testId="portal-error" />}
      </div>
      <h2>Ledger</h2>
      <ErrorText error={error} />
      <table className="ledger" data-testid="ledger">
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">What</th>
            <th scope="col">Tokens</th>
            <th scope="col">Balance</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((e) => (
            <tr key={e.id} data-testid={`ledger-${e.entry}`}>
              <td>{e.created_at ? new Date(e.created_at).toLocaleString() : ""}</td>
              <td>
                {ENTRY_LABELS[e.entry] ?? e.entry}
                {e.reason && <span className="muted"> — {e.reason}</span>}
              </td>
              <td className={e.delta < 0 ? "negative" : ""}>{e.delta > 0 ? `+${e.delta}` : e.delta}</td>
              <td>{e.balance_after}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {entries.length === 0 && <p className="muted">Nothing yet.</p>}
      {next != null && (
        <button type="button" className="btn-small" onClick={() => void more()} data-testid="ledger-more">
          Older entries
        </button>
      )}
    </div>
  );
}
