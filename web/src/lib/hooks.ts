import { useEffect, useRef, useState } from "react";
import { FINAL_STATES, pollJob, type JobStatus } from "./api";

/** Poll a job's status URL until it is final. Re-polls when the URL or token changes. */
export function useJobStatus<T extends JobStatus>(statusUrl: string | null, token: string | null) {
  const [status, setStatus] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [nonce, setNonce] = useState(0);
  useEffect(() => {
    if (!statusUrl || !token) return;
    const ctrl = new AbortController();
    setError(null);
    pollJob<T>(statusUrl, token, (s) => setStatus(s), ctrl.signal).catch((err) => {
      if (!ctrl.signal.aborted) setError(err);
    });
    return () => ctrl.abort();
  }, [statusUrl, token, nonce]);
  const live = !!status && !FINAL_STATES.includes(status.status);
  return { status, error, live, refresh: () => setNonce((n) => n + 1), setStatus };
}

/** requestAnimationFrame loop while `active`. */
export function useAnimationFrame(active: boolean, fn: () => void) {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    if (!active) return;
    let id = 0;
    const loop = () => {
      ref.current();
      id = requestAnimationFrame(loop);
    };
    id = requestAnimationFrame(loop);
    return () => cancelAnimationFrame(id);
  }, [active]);
}
