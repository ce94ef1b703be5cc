import { useState, type FormEvent } from "react";
import { ErrorText } from "../components/ErrorText";
import { Link } from "../components/Link";
import { signIn, signUp, type Me } from "../lib/auth";
import { navigate } from "../lib/router";

/** Sign in (or, with `mode="sign-up"`, create an account): shown for every page while nobody is signed in. */
export function SignInPage({ me, mode }: { me: Me; mode: "sign-in" | "sign-up" }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const signingUp = mode === "sign-up" && me.signup_enabled;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (signingUp) await signUp(email, password, name);
      else await signIn(email, password);
      if (["/sign-in", "/sign-up"].includes(window.location.pathname)) navigate("/", true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="page auth-page" aria-labelledby="auth-title">
      <h1 id="auth-title">{signingUp ? "Create an account" : "Sign in"}</h1>
      <p className="muted">This server keeps each account's songs to itself.</p>
      <form className="auth-form" onSubmit={(e) => void submit(e)} data-testid={signingUp ? "sign-up-form" : "sign-in-form"}>
        <label className="field">
          Email
          <input type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} data-testid="auth-email" />
        </label>
        <label className="field">
          Password
          <input
            type="password"
            autoComplete={signingUp ? "new-password" : "current-password"}
            required
            minLength={signingUp ? 8 : undefined}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            data-testid="auth-password"
          />
        </label>
        {signingUp && (
          <label className="field">
            Name (optional)
            <input type="text" autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} data-testid="auth-name" />
          </label>
        )}
        <button type="submit" className="btn-primary" disabled={busy} data-testid="auth-submit">
          {signingUp ? "Create account" : "Sign in"}
        </button>
        <ErrorText error={error} testId="auth-error" />
      </form>
      {me.signup_enabled &&
        (signingUp ? (
          <p>
            Have an account? <Link href="/sign-in" data-testid="to-sign-in">Sign in</Link>
          </p>
        ) : (
          <p>
            New here? <Link href="/sign-up" data-testid="to-sign-up">Create an account</Link>
          </p>
        ))}
    </section>
  );
}
