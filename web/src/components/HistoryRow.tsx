import { useState, type FormEvent } from "react";
import { cancelJob, type JobListItem, type JobStatus } from "../lib/api";
import { canRetry, deleteJob, estimateText, expiresSoon, expiryText, formatDuration, jobHref, jobTitle, renameJob, retryJob } from "../lib/jobs";
import { navigate } from "../lib/router";
import { loadMix, rememberToken } from "../lib/storage";
import { ErrorText } from "./ErrorText";
import { Link } from "./Link";

const KIND_LABEL: Record<string, string> = {
  "stems.split": "Stems",
  "stems.export": "Server mix",
  "speech.enhance": "Clean speech",
  "midi.transcribe": "MIDI",
  "midi.export": "MIDI export",
};

function when(iso: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

interface Props {
  job: JobListItem;
  /** The job's new status after a rename. */
  onChanged: (job: JobStatus) => void;
  /** The job was deleted. */
  onRemoved: (jobId: string) => void;
  /** The list should be read again (a job was cancelled or tried again). */
  onStale: () => void;
}

/** One job in the history: open, rename, cancel, try again, delete (with a confirmation). */
export function HistoryRow({ job, onChanged, onRemoved, onStale }: Props) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState("");
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const name = jobTitle(job);
  const href = jobHref(job);
  const live = job.status === "queued" || job.status === "running";
  const mixed = job.kind === "stems.split" && loadMix(job.job_id);
  const eta = estimateText(job);

  const act = async (what: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await what();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const rename = (e: FormEvent) => {
    e.preventDefault();
    void act(async () => {
      onChanged(await renameJob(job.job_id, job.job_token, draft.trim() || null));
      setEditing(false);
    });
  };
  const remove = () =>
    act(async () => {
      await deleteJob(job.job_id, job.job_token);
      onRemoved(job.job_id);
    });
  const cancel = () =>
    act(async () => {
      await cancelJob(job.job_id, job.job_token);
      onStale();
    });
  const retry = () =>
    act(async () => {
      const again = await retryJob(job.job_id, job.job_token);
      rememberToken(again.job_id, again.job_token);
      onStale();
      const to = jobHref({ kind: job.kind, job_id: again.job_id });
      if (to) navigate(to);
    });

  return (
    <tr data-testid={`history-${job.job_id}`} data-status={job.status}>
      <td data-label="Name" className="history-name">
        {editing ? (
          <form onSubmit={rename} className="history-rename">
            <input
              type="text"
              value={draft}
              maxLength={200}
              autoFocus
              aria-label={`New name for ${name}`}
              placeholder={job.input_name ?? ""}
              onChange={(e) => setDraft(e.target.value)}
              onKeyDown={(e) => e.key === "Escape" && setEditing(false)}
              data-testid={`rename-input-${job.job_id}`}
            />
            <button type="submit" className="btn-small" disabled={busy} data-testid={`rename-save-${job.job_id}`}>
              Save
            </button>
            <button type="button" className="btn-small" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </form>
        ) : (
          <>
            <span data-testid={`history-title-${job.job_id}`}>{name}</span>
            {job.title && job.input_name && <small className="muted"> {job.input_name}</small>}
          </>
        )}
      </td>
      <td data-label="Kind">
        {job.kind === "stems.split" && job.stem_count ? (
          <span title={job.stem_names.join(", ") || undefined}>{job.stem_count} stems</span>
        ) : (
          (KIND_LABEL[job.kind] ?? job.kind)
        )}
      </td>
      <td data-label="Length" data-testid={`history-duration-${job.job_id}`}>
        {formatDuration(job.duration_s)}
      </td>
      <td data-label="Status" className={`status status-${job.status}`}>
        {job.status}
        {job.status === "running" ? ` ${Math.round(job.progress)}%` : ""}
        {eta && <small className="muted"> · {eta}</small>}
      </td>
      <td data-label="Created">{when(job.created_at)}</td>
      <td data-label="Files" className={expiresSoon(job) ? "history-expiry soon" : "history-expiry muted"} data-testid={`history-expiry-${job.job_id}`}>
        {expiryText(job)}
      </td>
      <td data-label="" className="history-actions">
        {href && !job.files_expired && (
          <Link href={href} data-testid={`open-${job.job_id}`} aria-label={`Open ${name}`}>
            {mixed ? "Open (mix saved)" : "Open"}
          </Link>
        )}
        {!editing && (
          <button type="button" className="btn-small" disabled={busy} aria-label={`Rename ${name}`}
            onClick={() => (setDraft(job.title ?? ""), setEditing(true), setConfirming(false))} data-testid={`rename-${job.job_id}`}>
            Rename
          </button>
        )}
        {live && (
          <button type="button" className="btn-small" disabled={busy} aria-label={`Cancel ${name}`} onClick={() => void cancel()} data-testid={`cancel-${job.job_id}`}>
            Cancel
          </button>
        )}
        {canRetry(job) && (
          <button type="button" className="btn-small" disabled={busy} aria-label={`Try ${name} again`} onClick={() => void retry()} data-testid={`retry-${job.job_id}`}>
            Try again
          </button>
        )}
        {!live && !confirming && (
          <button type="button" className="btn-small" disabled={busy} aria-label={`Delete ${name}`}
            onClick={() => (setConfirming(true), setEditing(false))} data-testid={`delete-${job.job_id}`}>
            Delete
          </button>
        )}
        {confirming && (
          <span className="history-confirm" role="group" aria-label={`Delete ${name}?`}>
            <span>Delete it and its files?</span>
            <button type="button" className="btn-small danger" disabled={busy} autoFocus onClick={() => void remove()} data-testid={`delete-confirm-${job.job_id}`}>
              Delete
            </button>
            <button type="button" className="btn-small" onClick={() => setConfirming(false)}>
              Keep
            </button>
          </span>
        )}
        <ErrorText error={error} testId={`history-error-${job.job_id}`} />
      </td>
    </tr>
  );
}
