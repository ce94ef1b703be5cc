import type { JobStatus, UploadProgress } from "../lib/api";
import { estimateText } from "../lib/jobs";
import { ProgressBar } from "./ProgressBar";

interface Props {
  upload?: UploadProgress | null;
  status?: JobStatus | null;
  onCancel?: () => void;
  cancelling?: boolean;
}

function formatBytes(n: number): string {
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** Upload progress, then queue position, stage and progress of a running job. */
export function JobProgress({ upload, status, onCancel, cancelling }: Props) {
  if (upload && (!status || upload.fraction < 1)) {
    return (
      <div className="job-progress" data-testid="upload-progress">
        <ProgressBar value={upload.fraction * 100} label={`Uploading… ${formatBytes(upload.loaded)} of ${formatBytes(upload.total)}`} />
      </div>
    );
  }
  if (!status) return null;
  const live = status.status === "queued" || status.status === "running";
  let label: string;
  if (status.status === "queued") {
    label = status.queue_position ? `Queued — position ${status.queue_position} in line` : "Queued";
  } else if (status.status === "running") {
    label = `${capitalise(status.stage ?? "working")} — ${Math.round(status.progress)}%`;
  } else {
    label = capitalise(status.status);
  }
  return (
    <div className="job-progress" data-testid="job-progress" data-status={status.status}>
      <ProgressBar value={status.status === "succeeded" ? 100 : status.progress} label={label} testId="job-progress-bar" />
      {live && estimateText(status) && (
        <small className="muted" data-testid="job-eta" title={etaBasis(status)}>
          {capitalise(estimateText(status))}
        </small>
      )}
      {status.engine && (
        <small className="muted">
          Engine: {status.engine}
          {status.engine_note ? ` — ${status.engine_note}` : ""}
        </small>
      )}
      {live && onCancel && (
        <button type="button" className="btn-small" onClick={onCancel} disabled={cancelling}>
          {cancelling ? "Cancelling…" : "Cancel job"}
        </button>
      )}
    </div>
  );
}

function etaBasis(status: JobStatus): string {
  const e = status.estimate;
  if (!e?.x_realtime) return "Estimated from this job's progress.";
  return `Measured on ${e.samples} finished job${e.samples === 1 ? "" : "s"} like it: ${e.x_realtime}× realtime.`;
}

function capitalise(s: string): string {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}
