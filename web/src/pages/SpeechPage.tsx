import { useState } from "react";
import { cancelJob, uploadForm, type Accepted, type SpeechStatus, type UploadProgress } from "../lib/api";
import { useJobStatus } from "../lib/hooks";
import { navigate } from "../lib/router";
import { rememberToken, tokenFor } from "../lib/storage";
import { AbPlayer } from "../components/AbPlayer";
import { CostNote } from "../components/CostNote";
import { ErrorText } from "../components/ErrorText";
import { balanceChanged, type Balance } from "../lib/billing";
import { FileDrop } from "../components/FileDrop";
import { GamePanel } from "../components/GamePanel";
import { JobLinkProblem, RetryJob } from "../components/JobNotices";
import { JobProgress } from "../components/JobProgress";

interface Settings {
  engine: "fast" | "balanced" | "best";
  atten_limit_db: string;
  sample_rate: "original" | "48000";
  channels: "mono" | "keep";
  loudness_lufs: string;
  highpass_hz: string;
  bit_depth: "16" | "24";
}

const DEFAULTS: Settings = {
  engine: "balanced",
  atten_limit_db: "",
  sample_rate: "original",
  channels: "keep",
  loudness_lufs: "",
  highpass_hz: "",
  bit_depth: "16",
};

/** The advanced settings in words (shown on the closed "Advanced" line, so the defaults are visible). */
function advancedSummary(s: Settings): string {
  return [
    s.atten_limit_db ? `reduction limit ${s.atten_limit_db} dB` : s.engine === "fast" ? "reduction limit 15 dB" : "no reduction limit",
    s.loudness_lufs ? `${s.loudness_lufs} LUFS` : "loudness unchanged",
    s.highpass_hz && Number(s.highpass_hz) > 0 ? `rumble filter ${s.highpass_hz} Hz` : "no rumble filter",
    s.sample_rate === "original" ? "original rate" : "48 kHz",
    s.channels === "keep" ? "channels kept" : "mono",
    `${s.bit_depth}-bit WAV`,
  ].join(", ");
}

/** Clean a voice recording: upload, poll, then A/B the original against the enhanced file. */
export function SpeechPage({ initialJob, balance = null }: { initialJob: string | null; balance?: Balance | null }) {
  const [file, setFile] = useState<File | null>(null);
  const [settings, setSettings] = useState<Settings>(DEFAULTS);
  const [upload, setUpload] = useState<UploadProgress | null>(null);
  const [error, setError] = useState<unknown>(null);
  const token = initialJob ? tokenFor(initialJob) : null;
  const { status, error: pollError, live, refresh } = useJobStatus<SpeechStatus>(
    initialJob && token ? `/api/speech/status/${initialJob}` : null,
    token,
  );

  const set = <K extends keyof Settings>(k: K, v: Settings[K]) => setSettings((s) => ({ ...s, [k]: v }));

  const submit = async () => {
    if (!file) return;
    setError(null);
    setUpload({ loaded: 0, total: file.size, fraction: 0 });
    const form = new FormData();
    form.append("file", file);
    for (const [k, v] of Object.entries(settings)) if (v !== "") form.append(k, v);
    try {
      const job = await uploadForm<Accepted>("/api/speech/enhance", form, setUpload);
      rememberToken(job.job_id, job.job_token);
      balanceChanged();
      setUpload(null);
      navigate(`/speech?job=${job.job_id}`);
    } catch (err) {
      setError(err);
      setUpload(null);
    }
  };

  const files = status?.status === "succeeded" ? status.files : null;
  const result = (status?.result ?? {}) as Record<string, unknown>;
  const loudness = result.loudness as { output_lufs?: number | null; target_lufs?: number } | undefined;

  return (
    <div className="page speech-page">
      <h1>Clean up speech</h1>
      {!initialJob && (
        <>
          <FileDrop onFiles={(f) => setFile(f[0])} disabled={!!upload} testId="speech-drop" family="speech" hint="A voice recording: podcast, interview, voice memo, video" accept="audio/*,video/*" />
          {file && <p className="file-chosen">{file.name}</p>}
          <div className="form-row">
            <label className="field">
              <span>Engine</span>
              <select value={settings.engine} onChange={(e) => set("engine", e.target.value as Settings["engine"])} data-testid="speech-engine">
                <option value="fast">Fast (RNNoise)</option>
                <option value="balanced">Balanced (DeepFilterNet)</option>
                <option value="best">Best (DeepFilterNet, one continuous stream)</option>
              </select>
            </label>
          </div>
          <details className="advanced" data-testid="speech-advanced">
            <summary>
              Advanced settings <span className="muted">— {advancedSummary(settings)}</span>
            </summary>
            <div className="form-row">
              <label className="field">
                <span>Noise reduction limit (dB)</span>
                <input type="number" min={1} max={100} placeholder={settings.engine === "fast" ? "15 (default)" : "no limit"} value={settings.atten_limit_db} onChange={(e) => set("atten_limit_db", e.target.value)} />
              </label>
              <label className="field">
                <span>Loudness (LUFS)</span>
                <select value={settings.loudness_lufs} onChange={(e) => set("loudness_lufs", e.target.value)}>
                  <option value="">Unchanged</option>
                  <option value="-16">-16 (podcast)</option>
                  <option value="-19">-19</option>
                  <option value="-23">-23 (broadcast)</option>
                </select>
              </label>
              <label className="field">
                <span>Rumble filter (Hz)</span>
                <input type="number" min={0} max={300} placeholder="off" value={settings.highpass_hz} onChange={(e) => set("highpass_hz", e.target.value)} />
              </label>
              <label className="field">
                <span>Output</span>
                <select value={settings.sample_rate} onChange={(e) => set("sample_rate", e.target.value as Settings["sample_rate"])}>
                  <option value="original">Original rate</option>
                  <option value="48000">48 kHz</option>
                </select>
              </label>
              <label className="field">
                <span>Channels</span>
                <select value={settings.channels} onChange={(e) => set("channels", e.target.value as Settings["channels"])} data-testid="speech-channels">
                  <option value="keep">Keep (stereo stays stereo)</option>
                  <option value="mono">Mono (down-mix)</option>
                </select>
              </label>
              <label className="field">
                <span>WAV bits</span>
                <select value={settings.bit_depth} onChange={(e) => set("bit_depth", e.target.value as Settings["bit_depth"])}>
                  <option value="16">16</option>
                  <option value="24">24</option>
                </select>
              </label>
            </div>
          </details>
          {file && <CostNote balance={balance} kind="speech.enhance" files={[file]} ask={{ quality: settings.engine }} testId="speech-cost" />}
          <div className="form-row">
            <button type="button" className="btn-primary" disabled={!file || !!upload} onClick={() => void submit()} data-testid="speech-submit">
              Clean it
            </button>
            <ErrorText error={error} testId="speech-error" />
          </div>
          <JobProgress upload={upload} />
        </>
      )}
      {initialJob && !token && <JobLinkProblem probeUrl={`/api/speech/status/${initialJob}`} uploadTo="/speech" />}
      {initialJob && (
        <>
          <header className="job-head">
            <h2>{status?.input_name ?? "Speech job"}</h2>
            <button type="button" className="btn-small" onClick={() => navigate("/speech")}>
              Clean another file
            </button>
          </header>
          <JobLinkProblem error={pollError} job={status} uploadTo="/speech" />
          {status && status.status !== "succeeded" && (
            <div className="job-running">
              <div>
                <JobProgress status={status} onCancel={() => token && void cancelJob(status.job_id, token).then(refresh, setError)} />
                {status.status === "failed" && <ErrorText error={status.error ?? "The job failed."} testId="job-error" />}
                {token && <RetryJob job={status} token={token} />}
                <ErrorText error={error} />
              </div>
              {live && <GamePanel />}
            </div>
          )}
          {files?.original && files.enhanced && (
            <>
              <AbPlayer originalUrl={files.original.wav} enhancedUrl={files.enhanced.wav} />
              <div className="form-row" data-testid="speech-downloads">
                <span className="muted">Download the enhanced file:</span>
                {(["wav", "flac", "mp3"] as const).map((ext) => (
                  <a key={ext} href={files.enhanced[ext]} download>
                    {ext.toUpperCase()}
                  </a>
                ))}
                {status?.upload_url && (
                  <a href={status.upload_url} download className="muted">
                    original upload
                  </a>
                )}
              </div>
              <p className="stats">
                Engine: {status?.engine ?? "?"}
                {status?.engine_note ? ` — ${status.engine_note}` : ""}
                {loudness?.output_lufs != null ? ` · loudness ${loudness.output_lufs} LUFS` : ""}
              </p>
            </>
          )}
        </>
      )}
    </div>
  );
}
