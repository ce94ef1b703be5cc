import { useEffect, useState } from "react";
import { type Balance, type QuoteAsk, totalDuration, useQuote } from "../lib/billing";
import { ErrorText } from "./ErrorText";

interface Props {
  balance: Balance | null;
  kind: string;
  /** The files whose length sets the cost (the browser reads it); none for a flat-cost job. */
  files?: File[];
  ask?: Omit<QuoteAsk, "kind" | "duration_s">;
  testId?: string;
  /** Told whether the server would accept the job now (false: the button should wait / be disabled). */
  onAllowed?: (allowed: boolean) => void;
}

/** What a job will cost before it is submitted, and the sentence when it would be refused (402 / 403).
 * Nothing shows when the server does not meter usage. */
export function CostNote({ balance, kind, files, ask, testId = "job-cost", onAllowed }: Props) {
  const [duration, setDuration] = useState<number | null | undefined>(undefined);
  const fileKey = files?.map((f) => `${f.name}:${f.size}`).join("|") ?? "";
  useEffect(() => {
    let live = true;
    setDuration(undefined);
    if (files && files.length) void totalDuration(files).then((d) => live && setDuration(d));
    else setDuration(null);
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [fileKey]);
  const metering = !!balance?.metering;
  const needsFile = files !== undefined;
  const ready = metering && (!needsFile || (files!.length > 0 && duration !== undefined));
  const { quote, error } = useQuote(ready ? { kind, duration_s: duration, ...ask } : null);
  useEffect(() => {
    onAllowed?.(!quote || quote.allowed);
  }, [quote, onAllowed]);
  if (!metering || !ready) return null;
  if (error) return <ErrorText error={error} testId={`${testId}-error`} />;
  if (!quote) return <p className="muted cost-note">Working out the cost…</p>;
  const unknownLength = needsFile && duration == null;
  return (
    <div className={`cost-note${quote.allowed ? "" : " refused"}`} data-testid={testId} data-cost={quote.cost_tokens} data-allowed={quote.allowed}>
      <p>
        {unknownLength ? (
          <>The cost depends on the file&apos;s length, which this browser cannot read; the server measures it when you submit.</>
        ) : (
          <>
            Costs <strong data-testid={`${testId}-tokens`}>{quote.cost_tokens}</strong> token{quote.cost_tokens === 1 ? "" : "s"}
            {quote.balance != null && <> of your {quote.balance}</>}.{" "}
            <span className="muted">({quote.description})</span>
          </>
        )}
      </p>
      {!quote.allowed && quote.refusal && (
        <p className="error" role="alert" data-testid={`${testId}-refusal`}>
          {quote.refusal}
        </p>
      )}
    </div>
  );
}
