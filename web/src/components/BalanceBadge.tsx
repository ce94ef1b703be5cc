import type { Balance } from "../lib/billing";
import { Link } from "./Link";

/** The caller's tokens in the top bar (metering on, signed in); links to the account page. */
export function BalanceBadge({ balance }: { balance: Balance | null }) {
  if (!balance?.metering) return null;
  const held = balance.held ? ` (${balance.held} held)` : "";
  return (
    <Link href="/account" className="balance-badge" data-testid="balance" title={`${balance.plan.name} plan${held}`}>
      <span data-testid="balance-tokens">{balance.balance}</span> tokens
    </Link>
  );
}
