import { useState } from "react";
import { api, pollJob, type Accepted, type ServerExportStatus, type StemsStatus } from "../lib/api";
import { archiveUrl, downloadChoices } from "../lib/downloads";
import { ApiError } from "../lib/api";
import { chooseRenderer, describeResult, type RenderChoice, type Renderer } from "../lib/exportChoice";
import { serverExportBody, type MixState } from "../lib/mixer";
import { applyPeakControl, type PeakControl, type PeakFacts } from "../lib/peakControl";
import { baseName, encodeMp3, encodeWav, fetchStems, renderMix, saveBytes } from "../lib/render";
import { ErrorText } from "./ErrorText";

interface Props {
  job: StemsStatus;
  token: string;
  mix: MixState;
  duration: number;
  storedBits: number;
  /** The clip light is on: the mix went over full scale while playing. */
  clipped: boolean;
}

type Format = "wav" | "mp3";

const CONTROLS: { id: PeakControl; label: string }[] = [
  { id: "off", label: "Off (clip over 0 dBFS)" },
  { id: "limit", label: "Limiter to −1 dBFS" },
  { id: "normalize", label: "Normalise peak to −1 dBFS" },
];

/** Export the mix (rendered where it is faster: on the server or in the browser) and every stem as a ZIP. */
export function ExportPanel({ job, token, mix, duration, storedBits, clipped }: Props) {
  const base = baseName(job.input_name);
  const [format, setFormat] = useState<Format>("wav");
  const [control, setControl] = useState<PeakControl>("off");
  const [choice, setChoice] = useState<RenderChoice>("auto");
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [note, setNote] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [link, setLink] = useState<{ url: string; name: string } | null>(null);
  const zipChoices = downloadChoices(storedBits);
  const [zipChoice, setZipChoice] = useState(zipChoices.find((c) => !c.unavailable)!.id);
  const zip = zipChoices.find((c) => c.id === zipChoice)!;

  const renderer = chooseRenderer({ choice, serverEnabled: job.server_export !== false, durationS: duration, stems: job.stems.length, format });

  const renderOnServer = async (): Promise<{ facts: PeakFacts; url: string }> => {
    const accepted = await api<Accepted>("/api/stems/server-export", {
      method: "POST",
      json: { ...serverExportBody(job.job_id, token, format, mix), peak_control: control },
    });
    const done = await pollJob<ServerExportStatus>(accepted.status_url, accepted.job_token, (s) =>
      setNote(s.status === "queued" ? "Queued on the server…" : `Rendering on the server… ${Math.round(s.progress)}%`),
    );
    if (done.status !== "succeeded" || !done.url) throw new Error(done.error ?? `The server export ${done.status}.`);
    const r = (done.result ?? {}) as Record<string, number>;
    const facts = {
      peak: r.peak ?? 0,
      clippedSamples: r.clipped_samples ?? 0,
      outputPeak: r.output_peak ?? r.peak ?? 0,
      outputClippedSamples: r.output_clipped_samples ?? r.clipped_samples ?? 0,
      gainDb: r.normalize_gain_db,
    };
    return { facts, url: done.url };
  };

  const renderInBrowser = async (): Promise<{ facts: PeakFacts; bytes: Uint8Array }> => {
    const rate = Number(job.result?.sample_rate ?? 44100);
    const stems = await fetchStems(job.stems.map((s) => ({ name: s.id, url: s.url })), rate, (done, total) =>
      setNote(`Fetching the stems… ${done}/${total}`),
    );
    setNote("Rendering the mix…");
    const rendered = await renderMix(stems, mix);
    const channels = Array.from({ length: rendered.numberOfChannels }, (_, c) => rendered.getChannelData(c));
    const facts = applyPeakControl(channels, rendered.sampleRate, control);
    setNote(format === "mp3" ? "Encoding MP3…" : "Encoding WAV…");
    const bytes = format === "wav" ? encodeWav(rendered) : await encodeMp3(rendered, 192, (f) => setNote(`Encoding MP3… ${Math.round(f * 100)}%`));
    return { facts, bytes };
  };

  const exportMix = async (force = false) => {
    if (clipped && control === "off" && !force) {
      setConfirming(true);
      return;
    }
    setConfirming(false);
    setBusy(true);
    setError(null);
    setLink(null);
    const name = `${base}-mix.${format}`;
    const t0 = performance.now();
    let where: Renderer = renderer.where;
    let fallback = "";
    try {
      let facts: PeakFacts | null = null;
      if (where === "server") {
        try {
          const done = await renderOnServer();
          facts = done.facts;
          setLink({ url: done.url, name });
          const a = document.createElement("a");
          a.href = done.url;
          a.download = name;
          document.body.appendChild(a);
          a.click();
          a.remove();
        } catch (err) {
          // The server refused (disabled, queue full, disk full): the browser can still do it.
          if (!(choice === "auto" && err instanceof ApiError && [403, 503, 507].includes(err.status))) throw err;
          fallback = ` The server could not render it (${err.message}), so your browser did.`;
          where = "browser";
        }
      }
      if (!facts) {
        const done = await renderInBrowser();
        facts = done.facts;
        saveBytes(done.bytes, name, format === "wav" ? "audio/wav" : "audio/mpeg");
      }
      setNote(describeResult(name, where, (performance.now() - t0) / 1000, facts, control) + fallback);
    } catch (err) {
      setError(err);
      setNote("");
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="export" data-testid="export-panel">
      <h3>Export</h3>
      <div className="export-row">
        <span className="export-label">Mix</span>
        <select value={format} onChange={(e) => setFormat(e.target.value as Format)} aria-label="Mix format" data-testid="export-format">
          <option value="wav">WAV 16-bit</option>
          <option value="mp3">MP3</option>
        </select>
        <select value={control} onChange={(e) => setControl(e.target.value as PeakControl)} aria-label="Peak control" data-testid="peak-control">
          {CONTROLS.map((c) => (
            <option key={c.id} value={c.id}>
              {c.label}
            </option>
          ))}
        </select>
        <button type="button" className="btn-primary" onClick={() => void exportMix()} disabled={busy} data-testid="export-mix">
          {busy ? "Rendering…" : "Export mix"}
        </button>
        <small className="muted" data-testid="export-where" data-where={renderer.where}>
          Renders {renderer.why}.
        </small>
        <label className="field-inline">
          <span className="muted">Render</span>
          <select value={choice} onChange={(e) => setChoice(e.target.value as RenderChoice)} aria-label="Where to render the mix" data-testid="export-renderer">
            <option value="auto">where it is faster</option>
            <option value="server" disabled={job.server_export === false}>
              on the server
            </option>
            <option value="browser">in this browser</option>
          </select>
        </label>
      </div>
      {clipped && control === "off" && (
        <div className="export-row clip-warning" role="alert" data-testid="clip-warning">
          <span>⚠ The mix clipped while playing (the clip light is on): exported as it is, the peaks are cut off.</span>
          {confirming && (
            <>
              <button type="button" onClick={() => setControl("limit")} data-testid="use-limiter">
                Use the limiter
              </button>
              <button type="button" onClick={() => void exportMix(true)} data-testid="export-anyway">
                Export anyway
              </button>
            </>
          )}
        </div>
      )}
      {link && (
        <p>
          <a href={link.url} download={link.name} data-testid="server-export-link">
            {link.name}
          </a>
        </p>
      )}
      <ErrorText error={error} testId="export-error" />
      <div className="export-row">
        <span className="export-label">All stems (ZIP)</span>
        <select value={zipChoice} onChange={(e) => setZipChoice(e.target.value)} aria-label="Stems ZIP format" data-testid="zip-format">
          {zipChoices.map((c) => (
            <option key={c.id} value={c.id} disabled={!!c.unavailable} title={c.unavailable ?? undefined}>
              {c.label}
            </option>
          ))}
        </select>
        <a
          className="button"
          href={job.archive_url ? archiveUrl(job.archive_url, zip) : undefined}
          download={`${base}-stems.zip`}
          data-testid="export-zip"
        >
          Download ZIP
        </a>
        {storedBits < 24 && <small className="muted">{zipChoices[0].unavailable}</small>}
      </div>
      {note && (
        <p className="muted" data-testid="export-note" aria-live="polite">
          {note}
        </p>
      )}
    </section>
  );
}
