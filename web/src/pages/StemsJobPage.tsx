import { useState } from "react";
import { api, cancelJob, type Accepted, type StemsStatus } from "../lib/api";
import { useJobStatus } from "../lib/hooks";
import { jobTitle } from "../lib/jobs";
import { navigate } from "../lib/router";
import { rememberToken, tokenFor } from "../lib/storage";
import { ErrorText } from "../components/ErrorText";
import { GamePanel } from "../components/GamePanel";
import { ExpiryNote, JobLinkProblem, RetryJob } from "../components/JobNotices";
import { JobProgress } from "../components/JobProgress";
import { Link } from "../components/Link";
import { Mixer } from "../components/Mixer";

/** Which engine ran (and its model), and why, when it is not the one the quality mode asks for. */
function EngineLine({ status }: { status: StemsStatus }) {
  const result = (status.result ?? {}) as Record<string, unknown>;
  if (!status.engine && !result.engine_label) return null;
  const label = String(result.engine_label ?? status.engine);
  const model = result.model && !label.includes(String(result.model)) ? ` (${String(result.model)})` : "";
  return (
    <div className="job-engine" data-testid="job-engine">
      <span>
        Engine: <strong>{label}</strong>
        {model}
      </span>
      {status.engine_note && (
        <p className="muted engine-note" data-testid="engine-note">
          {status.engine_note}
        </p>
      )}
    </div>
  );
}

/** A stems job: progress while it runs (with the side game), then the mixer and export. */
export function StemsJobPage({ jobId, queryToken }: { jobId: string; queryToken: string | null }) {
  const token = queryToken ?? tokenFor(jobId);
  if (queryToken) rememberToken(jobId, queryToken);
  const { status, error, live, refresh } = useJobStatus<StemsStatus>(token ? `/api/stems/status/${jobId}` : null, token);
  const [cancelling, setCancelling] = useState(false);
  const [cancelError, setCancelError] = useState<unknown>(null);
  const [expandError, setExpandError] = useState<unknown>(null);
  const [expanding, setExpanding] = useState(false);

  if (!token) {
    return (
      <div className="page">
        <JobLinkProblem probeUrl={`/api/stems/status/${jobId}`} />
      </div>
    );
  }

  const cancel = async () => {
    setCancelling(true);
    setCancelError(null);
    try {
      await cancelJob(jobId, token);
      refresh();
    } catch (err) {
      setCancelError(err);
    } finally {
      setCancelling(false);
    }
  };

  const expand = async () => {
    setExpanding(true);
    setExpandError(null);
    try {
      const form = new FormData();
      if (status?.params?.quality) form.append("quality", String(status.params.quality));
      const job = await api<Accepted>(`/api/stems/expand/${jobId}`, { method: "POST", token, form });
      rememberToken(job.job_id, job.job_token);
      navigate(`/stems/${job.job_id}`);
    } catch (err) {
      setExpandError(err);
    } finally {
      setExpanding(false);
    }
  };

  const stemsCount = Number(status?.params?.stems ?? 0);

  return (
    <div className="page job-page" data-testid="stems-job" data-status={status?.status ?? "loading"}>
      <header className="job-head">
        <h1>{status ? jobTitle(status) : "Stems job"}</h1>
        {status && (
          <span className="muted">
            {stemsCount} stems · {String(status.params?.quality ?? "")}
            {status.parent_id ? " · expanded from a 2-stem job" : ""}
          </span>
        )}
        {status && <EngineLine status={status} />}
        {status && <ExpiryNote job={status} />}
      </header>
      <JobLinkProblem error={error} />
      {status && status.status !== "succeeded" && (
        <div className="job-running">
          <div>
            <JobProgress status={status} onCancel={() => void cancel()} cancelling={cancelling} />
            <ErrorText error={cancelError} />
            {status.status === "failed" && <ErrorText error={status.error ?? "The job failed."} testId="job-error" />}
            {status.status === "cancelled" && <p className="muted">This job was cancelled.</p>}
            <RetryJob job={status} token={token} />
          </div>
          {live && <GamePanel />}
        </div>
      )}
      {status && <JobLinkProblem job={status} />}
      {status?.status === "succeeded" && !status.files_expired && (
        <>
          {stemsCount === 2 && (
            <div className="form-row">
              <button type="button" onClick={() => void expand()} disabled={expanding} data-testid="expand">
                {expanding ? "Starting…" : "Expand to 4 stems"}
              </button>
              <small className="muted">Splits the same upload into vocals, drums, bass and other — no re-upload.</small>
              <ErrorText error={expandError} testId="expand-error" />
            </div>
          )}
          <Mixer job={status} token={token} />
          <p className="muted">
            <Link href={`/midi?source=${jobId}`}>Convert these stems to MIDI →</Link>
          </p>
        </>
      )}
    </div>
  );
}
