import { useEffect, useState, type FormEvent } from "react";
import { ErrorText } from "../components/ErrorText";
import { createKey, listKeys, revokeKey, type ApiKey, type ApiKeyCreated } from "../lib/auth";

function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : "never";
}

/** Personal API keys for scripts: create (the key is shown once), see when each was last used, revoke. */
export function ApiKeysPage() {
  const [keys, setKeys] = useState<ApiKey[] | null>(null);
  const [name, setName] = useState("");
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const [error, setError] = useState<unknown>(null);

  const reload = () =>
    listKeys().then(
      (r) => setKeys(r.keys),
      (err) => setError(err),
    );
  useEffect(() => void reload(), []);

  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      setCreated(await createKey(name));
      setName("");
      await reload();
    } catch (err) {
      setError(err);
    }
  };

  const revoke = async (key: ApiKey) => {
    setError(null);
    try {
      await revokeKey(key.id);
      if (created?.id === key.id) setCreated(null);
      await reload();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section className="page" aria-labelledby="keys-title">
      <h1 id="keys-title">API keys</h1>
      <p className="muted">
        For scripts: send a key as <code>Authorization: Bearer &lt;key&gt;</code>. It acts as you; revoke it when it is no longer
        needed.
      </p>
      <form className="form-row" onSubmit={(e) => void create(e)}>
        <label className="field">
          Name
          <input type="text" required maxLength={100} value={name} placeholder="e.g. laptop script" onChange={(e) => setName(e.target.value)} data-testid="key-name" />
        </label>
        <button type="submit" className="btn-primary" data-testid="key-create">
          Create key
        </button>
      </form>
      {created && (
        <div className="notice" role="status" data-testid="key-created">
          <p>
            Your new key <strong>{created.name}</strong> — copy it now, it is not shown again:
          </p>
          <code className="api-key" data-testid="key-value">
            {created.key}
          </code>
        </div>
      )}
      <ErrorText error={error} testId="keys-error" />
      {keys && keys.length === 0 && <p className="muted" data-testid="keys-empty">No keys yet.</p>}
      {keys && keys.length > 0 && (
        <table className="history" data-testid="keys">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.id} data-testid={`key-${k.id}`}>
                <td data-label="Name">{k.name}</td>
                <td data-label="Created">{when(k.created_at)}</td>
                <td data-label="Last used" data-testid={`key-used-${k.id}`}>
                  {when(k.last_used_at)}
                </td>
                <td>
                  <button type="button" className="btn-small" onClick={() => void revoke(k)} aria-label={`Revoke ${k.name}`} data-testid={`key-revoke-${k.id}`}>
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
