import { useRef, useState, type DragEvent } from "react";
import { limitText, sizeProblem, useLimits, type UploadFamily } from "../lib/limits";
import { ErrorText } from "./ErrorText";

interface Props {
  onFiles: (files: File[]) => void;
  accept?: string;
  multiple?: boolean;
  disabled?: boolean;
  label?: string;
  hint?: string;
  testId?: string;
  /** Whose upload limit applies (shown under the zone; bigger files are refused before any upload). */
  family?: UploadFamily;
}

/** Drag-and-drop zone that also opens the file picker on click / Enter; it states the server's limits. */
export function FileDrop({ onFiles, accept = "audio/*,.wav,.flac,.ogg,.opus,.mp3,.m4a,.aac", multiple, disabled, label, hint, testId, family = "default" }: Props) {
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const limits = useLimits();

  const take = (list: FileList | null) => {
    const all = list ? Array.from(list) : [];
    const files = multiple ? all : all.slice(0, 1);
    if (!files.length) return;
    const tooBig = limits ? sizeProblem(files, limits, family) : null;
    setProblem(tooBig);
    if (!tooBig) onFiles(files);
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    if (!disabled) take(e.dataTransfer.files);
  };

  return (
    <div className="drop-wrap">
      <div
        className={`drop ${over ? "drop-over" : ""} ${disabled ? "drop-disabled" : ""}`}
        role="button"
        tabIndex={disabled ? -1 : 0}
        aria-disabled={disabled}
        data-testid={testId}
        onClick={() => !disabled && input.current?.click()}
        onKeyDown={(e) => {
          if ((e.key === "Enter" || e.key === " ") && !disabled) {
            e.preventDefault();
            input.current?.click();
          }
        }}
        onDragOver={(e) => {
          e.preventDefault();
          if (!disabled) setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        <strong>{label ?? (multiple ? "Drop audio files here" : "Drop an audio file here")}</strong>
        <span>or click to choose {multiple ? "files" : "a file"}</span>
        {hint && <small>{hint}</small>}
        {limits && (
          <small className="muted" data-testid={testId ? `${testId}-limits` : undefined}>
            {limitText(limits, family, multiple)}
          </small>
        )}
        <input
          ref={input}
          type="file"
          accept={accept}
          multiple={multiple}
          hidden
          data-testid={testId ? `${testId}-input` : undefined}
          onChange={(e) => {
            take(e.target.files);
            e.target.value = "";
          }}
        />
      </div>
      <ErrorText error={problem} testId={testId ? `${testId}-error` : undefined} />
    </div>
  );
}
