import { useCallback, useEffect, useState } from "react";
import { FINAL_STATES, listJobs, type JobListItem, type JobStatus } from "../lib/api";
import { jobTitle } from "../lib/jobs";
import { rememberToken } from "../lib/storage";
import { ErrorText } from "../components/ErrorText";
import { HistoryRow } from "../components/HistoryRow";

const SEARCH_DELAY_MS = 250;
const LIVE_REFRESH_MS = 2000;

/** The user's past jobs: search, open (a stems job restores its mixer settings), rename, try again, delete. */
export function HistoryPage() {
  const [jobs, setJobs] = useState<JobListItem[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [filter, setFilter] = useState<string>("");
  const [search, setSearch] = useState<string>("");
  const [query, setQuery] = useState<string>("");
  const [nonce, setNonce] = useState(0);
  const [notice, setNotice] = useState<string>("");

  useEffect(() => {
    const t = setTimeout(() => setQuery(search.trim()), SEARCH_DELAY_MS);
    return () => clearTimeout(t);
  }, [search]);

  // The list, searched on the server; read again every few seconds while a job is queued or running.
  useEffect(() => {
    let stop = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const r = await listJobs(filter || undefined, 200, query);
        if (stop) return;
        for (const j of r.jobs) if (j.job_token) rememberToken(j.job_id, j.job_token);
        setJobs(r.jobs);
        setError(null);
        if (r.jobs.some((j) => !FINAL_STATES.includes(j.status))) timer = setTimeout(load, LIVE_REFRESH_MS);
      } catch (err) {
        if (!stop) setError(err);
      }
    };
    void load();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [filter, query, nonce]);

  const reload = useCallback(() => setNonce((n) => n + 1), []);
  const changed = useCallback(
    (updated: JobStatus) => setJobs((list) => list?.map((j) => (j.job_id === updated.job_id ? { ...j, ...updated } : j)) ?? null),
    [],
  );
  const removed = useCallback(
    (jobId: string) => {
      const gone = jobs?.find((j) => j.job_id === jobId);
      setNotice(`Deleted ${gone ? jobTitle(gone) : "the job"}.`);
      setJobs((list) => list?.filter((j) => j.job_id !== jobId) ?? null);
    },
    [jobs],
  );

  return (
    <div className="page history-page">
      <h1>History</h1>
      <div className="form-row history-tools">
        <label className="field inline">
          <span>Show</span>
          <select value={filter} onChange={(e) => setFilter(e.target.value)}>
            <option value="">All jobs</option>
            <option value="stems">Stems</option>
            <option value="speech">Clean speech</option>
            <option value="midi">MIDI</option>
          </select>
        </label>
        <label className="field inline history-search">
          <span>Search</span>
          <input type="search" value={search} placeholder="Name or file" onChange={(e) => setSearch(e.target.value)} data-testid="history-search" />
        </label>
      </div>
      <p className="muted history-notice" role="status" data-testid="history-notice">
        {notice}
      </p>
      <ErrorText error={error} />
      {jobs && !jobs.length && <p className="muted">{query ? `No jobs match “${query}”.` : "No jobs yet."}</p>}
      {jobs && jobs.length > 0 && (
        <table className="history" data-testid="history">
          <thead>
            <tr>
              <th>Name</th>
              <th>Kind</th>
              <th>Length</th>
              <th>Status</th>
              <th>Created</th>
              <th>Files</th>
              <th>
                <span className="history-sr">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((j) => (
              <HistoryRow key={j.job_id} job={j} onChanged={changed} onRemoved={removed} onStale={reload} />
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
