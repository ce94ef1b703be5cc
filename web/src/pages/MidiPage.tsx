import { useCallback, useEffect, useState } from "react";
import { api, FINAL_STATES, listJobs, pollJob, uploadForm, type Accepted, type JobStatus, type StemsStatus, type UploadProgress } from "../lib/api";
import { useJobStatus } from "../lib/hooks";
import {
  appendSettings,
  batchStems,
  convertStem,
  DEFAULT_SETTINGS,
  mergeJobs,
  startExport,
  type BatchAccepted,
  type ConversionSettings,
  type ExportStatus,
  type JobRef,
  type MidiStatus,
} from "../lib/midiApi";
import { stemsJobLabel } from "../lib/jobs";
import { saveBytes } from "../lib/render";
import { navigate } from "../lib/router";
import { rememberToken, tokenFor } from "../lib/storage";
import { CostNote } from "../components/CostNote";
import { ErrorText } from "../components/ErrorText";
import { balanceChanged, type Balance } from "../lib/billing";
import { FileDrop } from "../components/FileDrop";
import { GamePanel } from "../components/GamePanel";
import { JobLinkProblem, RetryJob } from "../components/JobNotices";
import { JobProgress } from "../components/JobProgress";
import { MidiEditor } from "../components/MidiEditor";
import { MidiSettingsForm } from "../components/MidiSettingsForm";

const MIDI_KIND = "midi.transcribe";

interface Props {
  jobId: string | null;
  sourceJob: string | null;
  balance?: Balance | null;
}

/** Audio -> MIDI: convert uploads or stems, edit notes in the piano roll, batch, merge and export. */
export function MidiPage({ jobId, sourceJob, balance = null }: Props) {
  const [settings, setSettings] = useState<ConversionSettings>(DEFAULT_SETTINGS);
  const [mode, setMode] = useState<"upload" | "stem">(sourceJob ? "stem" : "upload");
  const [files, setFiles] = useState<File[]>([]);
  const [upload, setUpload] = useState<UploadProgress | null>(null);
  const [convertError, setConvertError] = useState<unknown>(null);
  const [submitting, setSubmitting] = useState(false);

  const [stemsJobs, setStemsJobs] = useState<JobStatus[]>([]);
  const [stemsJob, setStemsJob] = useState<string>(sourceJob ?? "");
  const [pickedStems, setPickedStems] = useState<string[]>([]);

  const [jobs, setJobs] = useState<JobStatus[]>([]);
  const [listError, setListError] = useState<unknown>(null);
  const [checked, setChecked] = useState<string[]>([]);
  const [mergeError, setMergeError] = useState<unknown>(null);
  const [exportError, setExportError] = useState<unknown>(null);
  const [exportState, setExportState] = useState<string>("");
  const [nonce, setNonce] = useState(0);

  // The conversions list (refreshes while any job is still running).
  useEffect(() => {
    let stop = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const r = await listJobs(MIDI_KIND, 100);
        if (stop) return;
        for (const j of r.jobs) if (j.job_token) rememberToken(j.job_id, j.job_token);
        setJobs(r.jobs.filter((j) => j.kind === MIDI_KIND));
        setListError(null);
        if (r.jobs.some((j) => !FINAL_STATES.includes(j.status))) timer = setTimeout(load, 1500);
      } catch (err) {
        if (!stop) setListError(err);
      }
    };
    void load();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [nonce]);
  const refreshList = useCallback(() => setNonce((n) => n + 1), []);

  // Finished stems jobs, for "convert a stem".
  useEffect(() => {
    if (mode !== "stem") return;
    listJobs("stems.split", 100)
      .then((r) => {
        const done = r.jobs.filter((j) => j.status === "succeeded" && !j.files_expired);
        for (const j of done) if (j.job_token) rememberToken(j.job_id, j.job_token);
        setStemsJobs(done);
        setStemsJob((cur) => cur || done[0]?.job_id || "");
      })
      .catch(setConvertError);
  }, [mode]);
  // The stem names of the chosen stems job (from its status; the jobs list does not carry results).
  const [availableStems, setAvailableStems] = useState<string[]>([]);
  useEffect(() => {
    setAvailableStems([]);
    const tok = stemsJob ? tokenFor(stemsJob) : null;
    if (mode !== "stem" || !stemsJob || !tok) return;
    let stop = false;
    api<StemsStatus>(`/api/stems/status/${stemsJob}`, { token: tok })
      .then((s) => !stop && setAvailableStems(s.stems.map((x) => x.id)))
      .catch((err) => !stop && setConvertError(err));
    return () => {
      stop = true;
    };
  }, [mode, stemsJob, stemsJobs]);

  const token = jobId ? tokenFor(jobId) : null;
  const { status, error: statusError, live } = useJobStatus<MidiStatus>(jobId && token ? `/api/midi/status/${jobId}` : null, token);
  useEffect(() => {
    if (status && FINAL_STATES.includes(status.status)) refreshList();
  }, [status?.status, refreshList]); // eslint-disable-line react-hooks/exhaustive-deps

  const openJob = (id: string) => navigate(`/midi?job=${id}`);

  const afterBatch = (b: BatchAccepted) => {
    balanceChanged();
    for (const j of b.jobs) rememberToken(j.job_id, j.job_token);
    refreshList();
    if (b.jobs[0]) openJob(b.jobs[0].job_id);
  };

  const submit = async () => {
    setConvertError(null);
    setSubmitting(true);
    try {
      if (mode === "upload") {
        if (!files.length) return;
        const form = new FormData();
        setUpload({ loaded: 0, total: files.reduce((n, f) => n + f.size, 0), fraction: 0 });
        if (files.length === 1) {
          form.append("file", files[0]);
          appendSettings(form, settings);
          const job = await uploadForm<Accepted>("/api/midi/convert", form, setUpload);
          rememberToken(job.job_id, job.job_token);
          balanceChanged();
          refreshList();
          openJob(job.job_id);
        } else {
          for (const f of files) form.append("files", f);
          appendSettings(form, settings);
          afterBatch(await uploadForm<BatchAccepted>("/api/midi/batch", form, setUpload));
        }
        setFiles([]);
      } else {
        const tok = tokenFor(stemsJob);
        if (!stemsJob || !tok) throw new Error("Choose a finished stems job first.");
        if (!pickedStems.length) throw new Error("Tick at least one stem to convert.");
        if (pickedStems.length === 1) {
          const job = await convertStem(stemsJob, tok, pickedStems[0], settings);
          rememberToken(job.job_id, job.job_token);
          balanceChanged();
          refreshList();
          openJob(job.job_id);
        } else {
          afterBatch(await batchStems(pickedStems.map((stem) => ({ source_job: stemsJob, stem, source_token: tok })), settings));
        }
      }
    } catch (err) {
      setConvertError(err);
    } finally {
      setUpload(null);
      setSubmitting(false);
    }
  };

  const refs = (): JobRef[] => checked.map((id) => ({ job_id: id, job_token: tokenFor(id) ?? "" }));

  const merge = async () => {
    setMergeError(null);
    try {
      const blob = await mergeJobs(refs(), "Burnt Beats merge");
      saveBytes(blob, "merged.mid");
    } catch (err) {
      setMergeError(err);
    }
  };

  const exportZip = async () => {
    setExportError(null);
    setExportState("Starting…");
    try {
      const started = await startExport(refs(), "Burnt Beats export");
      const done = await pollJob<ExportStatus>(started.status_url, started.export_token, (s) =>
        setExportState(s.status === "queued" ? "Queued…" : `Exporting… ${Math.round(s.progress)}%`),
      );
      if (done.status !== "succeeded" || !done.file_url) throw new Error(done.error ?? `The export ${done.status}.`);
      setExportState(`Ready: ${(done.members ?? []).join(", ")}`);
      const a = document.createElement("a");
      a.href = done.file_url;
      a.download = "midi-stems.zip";
      document.body.appendChild(a);
      a.click();
      a.remove();
    } catch (err) {
      setExportError(err);
      setExportState("");
    }
  };

  const finishedChecked = checked.filter((id) => jobs.find((j) => j.job_id === id)?.status === "succeeded");

  return (
    <div className="page midi-page">
      <h1>Audio to MIDI</h1>
      <div className="midi-layout">
        <aside className="panel" data-testid="midi-side">
          <h3>New conversion</h3>
          <div className="ab-switch" role="group" aria-label="Source">
            <button type="button" className={mode === "upload" ? "on" : ""} onClick={() => setMode("upload")} data-testid="midi-mode-upload">
              Upload
            </button>
            <button type="button" className={mode === "stem" ? "on" : ""} onClick={() => setMode("stem")} data-testid="midi-mode-stem">
              Stem of a job
            </button>
          </div>
          {mode === "upload" ? (
            <>
              <FileDrop onFiles={setFiles} multiple disabled={submitting} testId="midi-drop" label="Drop audio files" hint="Several files = a batch" />
              {files.length > 0 && (
                <small data-testid="midi-files">
                  {files.length === 1 ? files[0].name : `${files.length} files: ${files.map((f) => f.name).join(", ")}`}
                </small>
              )}
            </>
          ) : (
            <>
              <label className="field">
                <span>Stems job</span>
                <select value={stemsJob} onChange={(e) => (setStemsJob(e.target.value), setPickedStems([]))} data-testid="midi-stems-job">
                  {!stemsJobs.length && <option value="">No finished stems jobs</option>}
                  {stemsJobs.map((j) => (
                    <option key={j.job_id} value={j.job_id}>
                      {stemsJobLabel(j)}
                    </option>
                  ))}
                </select>
              </label>
              <div className="form-row">
                {availableStems.map((s) => (
                  <label key={s}>
                    <input
                      type="checkbox"
                      checked={pickedStems.includes(s)}
                      data-testid={`midi-stem-${s}`}
                      onChange={(e) => setPickedStems((p) => (e.target.checked ? [...p, s] : p.filter((x) => x !== s)))}
                    />{" "}
                    {s}
                  </label>
                ))}
              </div>
            </>
          )}
          <MidiSettingsForm value={settings} onChange={setSettings} />
          {(mode === "upload" ? files.length : pickedStems.length) > 0 && (
            <CostNote balance={balance} kind="midi.transcribe" ask={{ count: mode === "upload" ? files.length : pickedStems.length }} testId="midi-cost" />
          )}
          <button
            type="button"
            className="btn-primary"
            onClick={() => void submit()}
            disabled={submitting || (mode === "upload" ? !files.length : !pickedStems.length)}
            data-testid="midi-convert"
          >
            {submitting ? "Sending…" : (mode === "upload" ? files.length : pickedStems.length) > 1 ? "Convert all (batch)" : "Convert"}
          </button>
          <ErrorText error={convertError} testId="midi-convert-error" />
          <JobProgress upload={upload} />

          <h3>Conversions</h3>
          <ErrorText error={listError} />
          {!jobs.length && <small className="muted">None yet.</small>}
          <ul className="midi-jobs" data-testid="midi-jobs">
            {jobs.map((j) => (
              <li key={j.job_id} className={j.job_id === jobId ? "current" : ""} data-testid={`midi-job-${j.job_id}`} data-status={j.status}>
                <input
                  type="checkbox"
                  aria-label="Select for merge / export"
                  checked={checked.includes(j.job_id)}
                  disabled={j.status !== "succeeded"}
                  data-testid={`midi-check-${j.job_id}`}
                  onChange={(e) => setChecked((c) => (e.target.checked ? [...c, j.job_id] : c.filter((x) => x !== j.job_id)))}
                />
                <button type="button" className="link" onClick={() => openJob(j.job_id)}>
                  {String(j.params?.track_name ?? j.input_name ?? j.job_id)}
                </button>
                <small className={`status-${j.status}`}>{j.status === "running" ? `${Math.round(j.progress)}%` : j.status}</small>
              </li>
            ))}
          </ul>
          <div className="form-row">
            <button type="button" onClick={() => void merge()} disabled={finishedChecked.length < 1} data-testid="midi-merge">
              Merge selected (.mid)
            </button>
            <button type="button" onClick={() => void exportZip()} disabled={finishedChecked.length < 1} data-testid="midi-export">
              Export zip
            </button>
          </div>
          <ErrorText error={mergeError} testId="midi-merge-error" />
          <ErrorText error={exportError} testId="midi-export-error" />
          {exportState && <small className="muted" data-testid="midi-export-state">{exportState}</small>}
        </aside>

        <section className="midi-main">
          {!jobId && <p className="muted">Convert a recording or a stem, or open a conversion from the list, to edit its notes here.</p>}
          {jobId && !token && <JobLinkProblem probeUrl={`/api/midi/status/${jobId}`} uploadTo="/midi" />}
          <JobLinkProblem error={statusError} job={status} uploadTo="/midi" />
          {status && (
            <header className="job-head">
              <h2>{String(status.params?.track_name ?? status.input_name ?? "Conversion")}</h2>
              <span className="muted">
                {status.input_name}
                {status.stem ? ` · stem ${status.stem}` : ""}
              </span>
            </header>
          )}
          {status && status.status !== "succeeded" && (
            <div className="job-running">
              <div>
                <JobProgress status={status} />
                {status.status === "failed" && <ErrorText error={status.error ?? "The conversion failed."} testId="job-error" />}
                {token && <RetryJob job={status} token={token} />}
              </div>
              {live && <GamePanel />}
            </div>
          )}
          {status?.status === "succeeded" && token && (
            <>
              <MidiEditor key={status.job_id} job={status} token={token} />
              <p className="stats" data-testid="midi-stats">
                {status.result && typeof status.result === "object" && (
                  <>
                    Engine {String(status.engine ?? "")} · {String((status.result as Record<string, unknown>).note_count ?? "")} notes
                    {(status.result as Record<string, unknown>).estimated_key ? ` · key ${String((status.result as Record<string, unknown>).estimated_key)}` : ""}
                    {(status.result as Record<string, unknown>).estimated_tempo_bpm
                      ? ` · ~${Math.round(Number((status.result as Record<string, unknown>).estimated_tempo_bpm))} bpm`
                      : ""}
                  </>
                )}
              </p>
            </>
          )}
        </section>
      </div>
    </div>
  );
}
