import { describeError } from "../lib/api";

/** A readable error next to the control that caused it. */
export function ErrorText({ error, testId }: { error: unknown; testId?: string }) {
  if (error === null || error === undefined || error === "") return null;
  const text = typeof error === "string" ? error : describeError(error);
  return (
    <p className="error" role="alert" data-testid={testId}>
      {text}
    </p>
  );
}
