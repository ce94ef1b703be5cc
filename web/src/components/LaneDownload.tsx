import { useRef } from "react";
import type { StemRef } from "../lib/api";
import { downloadChoices, downloadName, stemFileUrl } from "../lib/downloads";

/** A lane's download menu: the stem as WAV 24 / 16, FLAC 24 / 16 or MP3 (plain links: the browser saves them). */
export function LaneDownload({ stem, base, storedBits }: { stem: StemRef; base: string; storedBits: number }) {
  const menu = useRef<HTMLDetailsElement>(null);
  const close = () => {
    if (menu.current) menu.current.open = false;
  };
  return (
    <details
      className="lane-download"
      ref={menu}
      data-testid={`download-${stem.id}`}
      onKeyDown={(e) => {
        if (e.key === "Escape" && menu.current?.open) {
          e.stopPropagation();
          close();
          menu.current?.querySelector("summary")?.focus();
        }
      }}
    >
      <summary aria-label={`Download ${stem.id}`} title={`Download ${stem.id}`}>
        ⤓
      </summary>
      <ul className="menu">
        {downloadChoices(storedBits).map((choice) => (
          <li key={choice.id}>
            {choice.unavailable ? (
              <span className="muted" aria-disabled="true" title={choice.unavailable}>
                {choice.label}
              </span>
            ) : (
              <a
                href={stemFileUrl(stem, choice)}
                download={downloadName(base, stem.id, choice)}
                aria-label={`Download ${stem.id} as ${choice.label}`}
                data-testid={`download-${stem.id}-${choice.id}`}
                onClick={close}
              >
                {choice.label}
              </a>
            )}
          </li>
        ))}
      </ul>
    </details>
  );
}
