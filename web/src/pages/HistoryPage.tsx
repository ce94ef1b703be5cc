import { useEffect, useState } from "react";
import { listJobs, type JobStatus } from "../lib/api";
import { loadMix, rememberToken } from "../lib/storage";
import { ErrorText } from "../components/ErrorText";
import { Link } from "../components/Link";

const KIND_LABEL: Record<string, string> = {
  "stems.split": "Stems",
  "stems.export": "Server mix",
  "speech.enhance": "Clean speech",
  "midi.transcribe": "MIDI",
  "midi.export": "MIDI export",
};

/** Where a job of each kind is reopened. */
function jobHref(job: JobStatus): string | null {
  if (job.kind === "stems.split") return `/stems/${job.job_id}`;
  if (job.kind.startsWith("speech")) return `/speech?job=${job.job_id}`;
  if (job.kind === "midi.transcribe") return `/midi?job=${job.job_id}`;
  return null;
}

function when(iso: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** The local user's past jobs; reopening a stems job restores its mixer settings. */
export function HistoryPage() {
  const [jobs, setJobs] = useState<JobStatus[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [filter, setFilter] = useState<string>("");

  useEffect(() => {
    let stop = false;
    setError(null);
    listJobs(filter || undefined, 200)
      .then((r) => {
        if (stop) return;
        for (const j of r.jobs) if (j.job_token) rememberToken(j.job_id, j.job_token);
        setJobs(r.jobs);
      })
      .catch((err) => !stop && setError(err));
    return () => {
      stop = true;
    };
  }, [filter]);

  return (
    <div className="page history-page">
      <h1>History</h1>
      <label className="field inline">
        <span>Show</span>
        <select value={filter} onChange={(e) => setFilter(e.target.value)}>
          <option value="">All jobs</option>
          <option value="stems">Stems</option>
          <option value="speech">Clean speech</option>
          <option value="midi">MIDI</option>
        </select>
      </label>
      <ErrorText error={error} />
      {jobs && !jobs.length && <p className="muted">No jobs yet.</p>}
      {jobs && jobs.length > 0 && (
        <table className="history" data-testid="history">
          <thead>
            <tr>
              <th>File</th>
              <th>Kind</th>
              <th>Status</th>
              <th>Created</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {jobs.map((j) => {
              const href = jobHref(j);
              const mixed = j.kind === "stems.split" && loadMix(j.job_id);
              return (
                <tr key={j.job_id} data-testid={`history-${j.job_id}`}>
                  <td>{j.input_name ?? j.job_id}</td>
                  <td>
                    {KIND_LABEL[j.kind] ?? j.kind}
                    {j.kind === "stems.split" ? ` (${String(j.params?.stems ?? "")})` : ""}
                  </td>
                  <td className={`status status-${j.status}`}>
                    {j.status}
                    {j.status === "running" ? ` ${Math.round(j.progress)}%` : ""}
                    {j.files_expired ? " (files expired)" : ""}
                  </td>
                  <td>{when(j.created_at)}</td>
                  <td>
                    {href && !j.files_expired && (
                      <Link href={href} data-testid={`open-${j.job_id}`}>
                        {mixed ? "Open (mix saved)" : "Open"}
                      </Link>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}
