import { useState } from "react";
import { uploadForm, type Accepted, type UploadProgress } from "../lib/api";
import { navigate } from "../lib/router";
import { rememberToken } from "../lib/storage";
import { ErrorText } from "../components/ErrorText";
import { FileDrop } from "../components/FileDrop";
import { JobProgress } from "../components/JobProgress";

type Quality = "fast" | "balanced" | "best";

const QUALITY_HELP: Record<Quality, string> = {
  fast: "Quick DSP split, good for previews.",
  balanced: "The default: a neural model at a sensible speed.",
  best: "The slowest and cleanest.",
};

/** Upload a song and split it into 2 or 4 stems. */
export function SplitPage() {
  const [file, setFile] = useState<File | null>(null);
  const [stems, setStems] = useState<2 | 4>(2);
  const [quality, setQuality] = useState<Quality>("balanced");
  const [upload, setUpload] = useState<UploadProgress | null>(null);
  const [error, setError] = useState<unknown>(null);

  const submit = async () => {
    if (!file) return;
    setError(null);
    setUpload({ loaded: 0, total: file.size, fraction: 0 });
    const form = new FormData();
    form.append("file", file);
    form.append("stems", String(stems));
    form.append("quality", quality);
    try {
      const job = await uploadForm<Accepted>("/api/stems/split", form, setUpload);
      rememberToken(job.job_id, job.job_token);
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
          <label>
            <input type="radio" name="stems" checked={stems === 2} onChange={() => setStems(2)} data-testid="stems-2" /> 2 — vocals +
            instrumental
          </label>
          <label>
            <input type="radio" name="stems" checked={stems === 4} onChange={() => setStems(4)} data-testid="stems-4" /> 4 — vocals, drums,
            bass, other
          </label>
        </fieldset>
        <label className="field">
          <span>Quality</span>
          <select value={quality} onChange={(e) => setQuality(e.target.value as Quality)} data-testid="quality">
            <option value="fast">Fast</option>
            <option value="balanced">Balanced</option>
            <option value="best">Best</option>
          </select>
          <small className="muted">{QUALITY_HELP[quality]}</small>
        </label>
      </div>
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
