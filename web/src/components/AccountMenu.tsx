import { useState } from "react";
import { describeError } from "../lib/api";
import { signOut, type Me } from "../lib/auth";
import { navigate } from "../lib/router";
import { Link } from "./Link";

/** The signed-in account in the top bar: its name, the API keys page, sign out. Only when accounts are on. */
export function AccountMenu({ me }: { me: Me }) {
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!me.auth_required || !me.user) return null;
  const label = me.user.display_name || me.user.email || "Account";

  const out = async () => {
    try {
      await signOut();
      navigate("/", true);
    } catch (err) {
      setError(describeError(err));
    }
  };

  return (
    <div className="account-menu">
      <button type="button" className="btn-small" aria-expanded={open} aria-haspopup="true" onClick={() => setOpen(!open)} data-testid="account-button">
        {label}
      </button>
      {open && (
        <div className="account-popup" data-testid="account-popup">
          <p className="muted" data-testid="account-email">
            {me.user.email}
          </p>
          <Link href="/account/keys" onClick={() => setOpen(false)} data-testid="account-keys">
            API keys
          </Link>
          <button type="button" className="btn-small" onClick={() => void out()} data-testid="sign-out">
            Sign out
          </button>
          {error && (
            <p className="error" role="alert">
              {error}
            </p>
          )}
        </div>
      )}
    </div>
  );
}
