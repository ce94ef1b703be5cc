// What a job page says about the job itself: a link that leads nowhere (never existed / deleted / expired /
// no token), "try again" for a failed or cancelled job, and when its files expire.

import { useEffect, useState } from "react";
import { api, ApiError, type JobStatus } from "../lib/api";
import { canRetry, expiresSoon, expiryText, jobHref, LINK_PROBLEM_TEXT, linkProblem, retryJob, uploadHref, type LinkProblem } from "../lib/jobs";
import { navigate } from "../lib/router";
import { rememberToken } from "../lib/storage";
import { ErrorText } from "./ErrorText";
import { Link } from "./Link";

interface ProblemProps {
  /** The status request's error, if it failed. */
  error?: unknown;
  /** The job, when its status was read (an expired one still has a status). */
  job?: JobStatus | null;
  /** With no token known, the status URL is asked once without one: 404 = never existed, 403 = exists. */
  probeUrl?: string | null;
  /** The upload page when the job's kind is not known. */
  uploadTo?: string;
}

/** A job link that cannot show its job says why, and offers the upload page. Renders nothing otherwise. */
export function JobLinkProblem({ error, job, probeUrl, uploadTo = "/" }: ProblemProps) {
  const [probed, setProbed] = useState<LinkProblem | null>(null);
  useEffect(() => {
    if (!probeUrl) return;
    let stop = false;
    api(probeUrl)
      .then(() => !stop && setProbed("no-token"))
      .catch((err) => !stop && setProbed(linkProblem(err)));
    return () => {
      stop = true;
    };
  }, [probeUrl]);

  let problem: LinkProblem | null = null;
  if (probeUrl) problem = probed === "other" ? "no-token" : probed;
  else if (error) problem = linkProblem(error);
  else if (job?.files_expired) problem = "expired";
  if (!problem) return null;
  if (problem === "other") return <ErrorText error={error} testId="status-error" />;
  return (
    <div className="job-link-problem" role="alert" data-testid="job-link-problem" data-problem={problem}>
      <p>{problem === "deleted" && error instanceof ApiError ? error.message : LINK_PROBLEM_TEXT[problem]}</p>
      <p>
        <Link href={job ? uploadHref(job) : uploadTo} className="btn-primary" data-testid="job-link-upload">
          Upload a file
        </Link>{" "}
        <Link href="/history">Your jobs</Link>
      </p>
    </div>
  );
}

/** "Try again" for a failed or cancelled job: the same input and settings, no re-upload (or back to upload). */
export function RetryJob({ job, token }: { job: JobStatus; token: string }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  if (!canRetry(job)) return null;
  const retry = async () => {
    setBusy(true);
    setError(null);
    try {
      const again = await retryJob(job.job_id, token);
      rememberToken(again.job_id, again.job_token);
      navigate(jobHref({ kind: job.kind, job_id: again.job_id }) ?? "/history");
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const gone = linkProblem(error) === "deleted";
  return (
    <div className="form-row job-retry">
      <button type="button" onClick={() => void retry()} disabled={busy} data-testid="job-retry">
        {busy ? "Starting…" : "Try again"}
      </button>
      <small className="muted">Same file and settings, no re-upload.</small>
      <ErrorText error={error} testId="job-retry-error" />
      {gone && (
        <Link href={uploadHref(job)} data-testid="job-retry-upload">
          Upload it again (settings kept)
        </Link>
      )}
    </div>
  );
}

/** "Files kept until …" for a finished job. */
export function ExpiryNote({ job }: { job: JobStatus }) {
  const text = expiryText(job);
  if (!text) return null;
  return (
    <small className={expiresSoon(job) ? "job-expiry soon" : "job-expiry muted"} data-testid="job-expiry" title={job.expires_at ?? undefined}>
      {text}
    </small>
  );
}
