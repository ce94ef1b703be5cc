import { useState } from "react";
import { api, apiBytes, pollJob, type Accepted, type ServerExportStatus, type StemsStatus } from "../lib/api";
import type { LoadedStem } from "../lib/audioEngine";
import { serverExportBody, type MixState } from "../lib/mixer";
import { baseName, encodeMp3, encodeWav, renderMix, saveBytes, zipFiles } from "../lib/render";
import { ErrorText } from "./ErrorText";

interface Props {
  job: StemsStatus;
  token: string;
  stems: LoadedStem[];
  mix: MixState;
}

type Busy = null | "wav" | "mp3" | "zip" | "server";

/** Export the mix (rendered in the browser or on the server) and the stems as a ZIP. */
export function ExportPanel({ job, token, stems, mix }: Props) {
  const base = baseName(job.input_name);
  const [busy, setBusy] = useState<Busy>(null);
  const [note, setNote] = useState<string>("");
  const [errors, setErrors] = useState<Partial<Record<"mix" | "zip" | "server", unknown>>>({});
  const [serverFormat, setServerFormat] = useState<"wav" | "mp3">("wav");
  const [serverResult, setServerResult] = useState<{ url: string; name: string } | null>(null);
  const [serverProgress, setServerProgress] = useState<string>("");

  const fail = (key: "mix" | "zip" | "server", err: unknown) => setErrors((e) => ({ ...e, [key]: err }));
  const clear = (key: "mix" | "zip" | "server") => setErrors((e) => ({ ...e, [key]: null }));

  const exportMix = async (format: "wav" | "mp3") => {
    setBusy(format);
    clear("mix");
    try {
      setNote("Rendering the mix…");
      const rendered = await renderMix(stems, mix);
      setNote(format === "mp3" ? "Encoding MP3…" : "Encoding WAV…");
      const bytes =
        format === "wav"
          ? encodeWav(rendered)
          : await encodeMp3(rendered, 192, (f) => setNote(`Encoding MP3… ${Math.round(f * 100)}%`));
      saveBytes(bytes, `${base}-mix.${format}`, format === "wav" ? "audio/wav" : "audio/mpeg");
      setNote(`Saved ${base}-mix.${format}`);
    } catch (err) {
      fail("mix", err);
      setNote("");
    } finally {
      setBusy(null);
    }
  };

  const exportZip = async () => {
    setBusy("zip");
    clear("zip");
    try {
      const files: Record<string, Uint8Array> = {};
      let i = 0;
      for (const stem of job.stems) {
        setNote(`Fetching ${stem.id}.wav (${++i}/${job.stems.length})…`);
        files[`${base}-${stem.id}.wav`] = new Uint8Array(await apiBytes(stem.urls.wav));
      }
      setNote("Zipping…");
      const zipped = await zipFiles(files);
      saveBytes(zipped, `${base}-stems.zip`, "application/zip");
      setNote(`Saved ${base}-stems.zip`);
    } catch (err) {
      fail("zip", err);
      setNote("");
    } finally {
      setBusy(null);
    }
  };

  const exportOnServer = async () => {
    setBusy("server");
    clear("server");
    setServerResult(null);
    try {
      const accepted = await api<Accepted>("/api/stems/server-export", {
        method: "POST",
        json: serverExportBody(job.job_id, token, serverFormat, mix),
      });
      const done = await pollJob<ServerExportStatus>(accepted.status_url, accepted.job_token, (s) =>
        setServerProgress(s.status === "queued" ? "Queued on the server…" : `Rendering on the server… ${Math.round(s.progress)}%`),
      );
      if (done.status !== "succeeded" || !done.url) throw new Error(done.error ?? `The server export ${done.status}.`);
      const name = `${base}-mix.${serverFormat}`;
      setServerResult({ url: done.url, name });
      setServerProgress("");
      const a = document.createElement("a");
      a.href = done.url;
      a.download = name;
      document.body.appendChild(a);
      a.click();
      a.remove();
    } catch (err) {
      fail("server", err);
      setServerProgress("");
    } finally {
      setBusy(null);
    }
  };

  return (
    <section className="export" data-testid="export-panel">
      <h3>Export</h3>
      <div className="export-row">
        <span className="export-label">Mix (rendered in your browser)</span>
        <button type="button" onClick={() => void exportMix("wav")} disabled={!!busy} data-testid="export-wav">
          {busy === "wav" ? "Rendering…" : "Download WAV"}
        </button>
        <button type="button" onClick={() => void exportMix("mp3")} disabled={!!busy} data-testid="export-mp3">
          {busy === "mp3" ? "Encoding…" : "Download MP3"}
        </button>
        <ErrorText error={errors.mix} />
      </div>
      <div className="export-row">
        <span className="export-label">All stems</span>
        <button type="button" onClick={() => void exportZip()} disabled={!!busy} data-testid="export-zip">
          {busy === "zip" ? "Zipping…" : "Download ZIP"}
        </button>
        <ErrorText error={errors.zip} testId="zip-error" />
      </div>
      <div className="export-row">
        <span className="export-label">Mix rendered on the server</span>
        <select value={serverFormat} onChange={(e) => setServerFormat(e.target.value as "wav" | "mp3")} aria-label="Server export format">
          <option value="wav">WAV</option>
          <option value="mp3">MP3</option>
        </select>
        <button type="button" onClick={() => void exportOnServer()} disabled={!!busy} data-testid="export-server">
          {busy === "server" ? "Rendering…" : "Render on server"}
        </button>
        {serverProgress && <small className="muted">{serverProgress}</small>}
        {serverResult && (
          <a href={serverResult.url} download={serverResult.name} data-testid="server-export-link">
            {serverResult.name}
          </a>
        )}
        <ErrorText error={errors.server} testId="server-export-error" />
      </div>
      {note && (
        <p className="muted" data-testid="export-note">
          {note}
        </p>
      )}
    </section>
  );
}
