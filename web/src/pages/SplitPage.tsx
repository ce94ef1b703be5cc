import { useEffect, useState } from "react";
import { api, uploadForm, type Accepted, type UploadProgress } from "../lib/api";
import { balanceChanged, type Balance } from "../lib/billing";
import { qualityOptions, type Modes } from "../lib/modes";
import { navigate } from "../lib/router";
import { rememberToken } from "../lib/storage";
import { CostNote } from "../components/CostNote";
import { ErrorText } from "../components/ErrorText";
import { FileDrop } from "../components/FileDrop";
import { JobProgress } from "../components/JobProgress";

type Quality = string;

const QUALITY_HELP: Record<string, string> = {
  fast: "Quick DSP split, good for previews.",
  balanced: "The default: a neural model at a sensible speed.",
  best: "The slowest and cleanest.",
};

/** Until GET /api/stems/modes answers (or if it cannot): the modes by name only. */
const FALLBACK_MODES: Modes = {
  default_quality: "balanced",
  layouts: [
    { stems: 2, names: ["vocals", "instrumental"] },
    { stems: 4, names: ["vocals", "drums", "bass", "other"] },
  ],
  modes: [],
};

/** Settings carried in the URL (`/?stems=4&quality=best`: "upload it again" keeps a job's settings). */
function initialSettings(): { stems: number; quality: Quality } {
  const q = new URLSearchParams(window.location.search);
  const stems = Number(q.get("stems"));
  return { stems: [2, 4, 6].includes(stems) ? stems : 2, quality: q.get("quality") || "balanced" };
}


/** Upload a song and split it into 2 or 4 stems. */
export function SplitPage({ balance = null }: { balance?: Balance | null }) {
  const [file, setFile] = useState<File | null>(null);
  const [stems, setStems] = useState<number>(() => initialSettings().stems);
  const [quality, setQuality] = useState<Quality>(() => initialSettings().quality);
  const [bitDepth, setBitDepth] = useState<16 | 24>(24);
  const [modes, setModes] = useState<Modes>(FALLBACK_MODES);
  useEffect(() => {
    const ctrl = new AbortController();
    api<Modes>("/api/stems/modes", { signal: ctrl.signal })
      .then((m) => {
        setModes(m);
        setQuality((q) => (m.modes.some((row) => row.quality === q) ? q : m.default_quality));
      })
      .catch(() => undefined); // the menu keeps the plain mode names
    return () => ctrl.abort();
  }, []);
  const options = qualityOptions(modes, stems);
  const current = options.find((o) => o.quality === quality);
  const [upload, setUpload] = useState<UploadProgress | null>(null);
  const [error, setError] = useState<unknown>(null);
  // Under metering: what the plan does not allow (disabled, with the server's sentence) and the job's cost.
  const refused = balance?.metering ? balance.option_refusals : { stems: {}, qualities: {} };
  const planNotes = [...new Set([...Object.values(refused.stems), ...Object.values(refused.qualities)])];

  const submit = async () => {
    if (!file) return;
    setError(null);
    setUpload({ loaded: 0, total: file.size, fraction: 0 });
    const form = new FormData();
    form.append("file", file);
    form.append("stems", String(stems));
    form.append("quality", quality);
    form.append("bit_depth", String(bitDepth));
    try {
      const job = await uploadForm<Accepted>("/api/stems/split", form, setUpload);
      rememberToken(job.job_id, job.job_token);
      balanceChanged();
      navigate(`/stems/${job.job_id}`);
    } catch (err) {
      setError(err);
      setUpload(null);
    }
  };

  return (
    <div className="page split-page">
      <h1>Split a song into stems</h1>
      <FileDrop
        onFiles={(f) => {
          setFile(f[0]);
          setError(null);
        }}
        disabled={!!upload}
        testId="split-drop"
        hint="wav, flac, ogg, opus, mp3, m4a or aac"
      />
      {file && (
        <p className="file-chosen" data-testid="file-chosen">
          {file.name} <span className="muted">({(file.size / 1024 / 1024).toFixed(2)} MB)</span>
        </p>
      )}
      <div className="form-row">
        <fieldset className="choice">
          <legend>Stems</legend>
          {modes.layouts.map((layout) => (
            <label key={layout.stems}>
              <input
                type="radio"
                name="stems"
                checked={stems === layout.stems}
                onChange={() => setStems(layout.stems)}
                disabled={!!refused.stems[String(layout.stems)]}
                title={refused.stems[String(layout.stems)]}
                data-testid={`stems-${layout.stems}`}
              />{" "}
              {layout.stems} — {layout.names.join(", ")}
            </label>
          ))}
        </fieldset>
        <label className="field">
          <span>Quality</span>
          <select value={quality} onChange={(e) => setQuality(e.target.value)} data-testid="quality">
            {options.map((o) => (
              <option key={o.quality} value={o.quality} disabled={!o.available || !!refused.qualities[o.quality]} title={refused.qualities[o.quality]}>
                {o.label}
              </option>
            ))}
          </select>
          <small className="muted" data-testid="quality-note">
            {current?.note ?? QUALITY_HELP[quality] ?? ""}
          </small>
        </label>
        <label className="field">
          <span>Stem files</span>
          <select value={bitDepth} onChange={(e) => setBitDepth(Number(e.target.value) as 16 | 24)} data-testid="bit-depth">
            <option value={24}>24-bit WAV (for a DAW)</option>
            <option value={16}>16-bit WAV (smaller)</option>
          </select>
        </label>
      </div>
      {planNotes.length > 0 && (
        <ul className="plan-notes muted" data-testid="plan-limits">
          {planNotes.map((note) => (
            <li key={note}>{note}</li>
          ))}
        </ul>
      )}
      {file && <CostNote balance={balance} kind="stems.split" files={[file]} ask={{ stems, quality }} testId="split-cost" />}
      <div className="form-row">
        <button type="button" className="btn-primary" disabled={!file || !!upload} onClick={() => void submit()} data-testid="split-submit">
          {upload ? "Uploading…" : "Split"}
        </button>
        <ErrorText error={error} testId="split-error" />
      </div>
      <JobProgress upload={upload} />
    </div>
  );
}
