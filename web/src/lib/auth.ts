// Accounts (AUTH_REQUIRED on the server): who is signed in, sign-up / sign-in / sign-out, API keys.
// With accounts off (the default) `auth_required` is false and none of the account UI shows.

import { useEffect, useState } from "react";
import { api, UNAUTHORIZED_EVENT, type Schemas } from "./api";

export type Me = Schemas["MePublic"];
export type ApiKey = Schemas["ApiKeyPublic"];
export type ApiKeyCreated = Schemas["ApiKeyCreatedPublic"];

const CHANGED = "burntbeats:me";
let current: Me | null = null;
let loading: Promise<Me> | null = null;
let asked = 0;

export function loadMe(force = false): Promise<Me> {
  if (!force && loading) return loading;
  const mine = ++asked;
  loading = api<Me>("/api/auth/me").then((me) => {
    // Only the latest question's answer counts: an older one (sent before a sign-in) must not undo it.
    if (mine === asked) {
      current = me;
      window.dispatchEvent(new Event(CHANGED));
    }
    return current ?? me;
  });
  loading.catch(() => {
    loading = null;
  });
  return loading;
}

/** Who is signed in (null until the first answer); re-read after sign-in, sign-out or a 401. */
export function useMe(): { me: Me | null; error: unknown } {
  const [me, setMe] = useState<Me | null>(current);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const changed = () => setMe(current);
    const unauthorized = () => void loadMe(true).catch(setError);
    window.addEventListener(CHANGED, changed);
    window.addEventListener(UNAUTHORIZED_EVENT, unauthorized);
    loadMe().then(setMe, setError);
    return () => {
      window.removeEventListener(CHANGED, changed);
      window.removeEventListener(UNAUTHORIZED_EVENT, unauthorized);
    };
  }, []);
  return { me, error };
}

export async function signUp(email: string, password: string, displayName?: string): Promise<Me> {
  await api<Schemas["SignedInPublic"]>("/api/auth/sign-up", { json: { email, password, display_name: displayName || null } });
  return loadMe(true);
}

export async function signIn(email: string, password: string): Promise<Me> {
  await api<Schemas["SignedInPublic"]>("/api/auth/sign-in", { json: { email, password } });
  return loadMe(true);
}

export async function signOut(): Promise<Me> {
  await api<Schemas["SignedOutPublic"]>("/api/auth/sign-out", { method: "POST" });
  return loadMe(true);
}

export function listKeys(): Promise<Schemas["ApiKeyListPublic"]> {
  return api("/api/auth/keys");
}

export function createKey(name: string): Promise<ApiKeyCreated> {
  return api("/api/auth/keys", { json: { name } });
}

export function revokeKey(id: string): Promise<ApiKey> {
  return api(`/api/auth/keys/${encodeURIComponent(id)}`, { method: "DELETE" });
}
