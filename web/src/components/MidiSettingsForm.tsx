import { DEFAULT_SETTINGS, type ConversionSettings } from "../lib/midiApi";

interface Props {
  value: ConversionSettings;
  onChange: (next: ConversionSettings) => void;
}

type Quantize = NonNullable<ConversionSettings["quantize"]>;
const QUANTIZE: ("" | Quantize)[] = ["", "1/4", "1/8", "1/16", "1/32", "1/4T", "1/8T", "1/16T"];

function numOrNull(v: string): number | null {
  if (v.trim() === "") return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/** Audio -> MIDI conversion settings (Basic Pitch's options plus tempo, quantisation, instrument). */
export function MidiSettingsForm({ value, onChange }: Props) {
  const set = <K extends keyof ConversionSettings>(k: K, v: ConversionSettings[K]) => onChange({ ...value, [k]: v });
  return (
    <details className="midi-settings">
      <summary>Conversion settings</summary>
      <div className="settings-grid">
        <label>
          Note sensitivity (onset) <output>{value.onset_threshold.toFixed(2)}</output>
          <input type="range" min={0.05} max={0.95} step={0.01} value={value.onset_threshold} onChange={(e) => set("onset_threshold", Number(e.target.value))} />
        </label>
        <label>
          Sustain sensitivity (frame) <output>{value.frame_threshold.toFixed(2)}</output>
          <input type="range" min={0.05} max={0.95} step={0.01} value={value.frame_threshold} onChange={(e) => set("frame_threshold", Number(e.target.value))} />
        </label>
        <label>
          Shortest note (ms) <output>{Math.round(value.minimum_note_length_ms)}</output>
          <input type="range" min={10} max={500} step={1} value={value.minimum_note_length_ms} onChange={(e) => set("minimum_note_length_ms", Number(e.target.value))} />
        </label>
        <label>
          Lowest frequency (Hz)
          <input type="number" min={20} max={8000} placeholder="any" value={value.minimum_frequency ?? ""} onChange={(e) => set("minimum_frequency", numOrNull(e.target.value))} />
        </label>
        <label>
          Highest frequency (Hz)
          <input type="number" min={20} max={8000} placeholder="any" value={value.maximum_frequency ?? ""} onChange={(e) => set("maximum_frequency", numOrNull(e.target.value))} />
        </label>
        <label>
          Tempo (bpm)
          <input type="number" min={20} max={300} value={value.midi_tempo} onChange={(e) => set("midi_tempo", numOrNull(e.target.value) ?? 120)} />
        </label>
        <label>
          Quantize
          <select value={value.quantize ?? ""} onChange={(e) => set("quantize", (e.target.value || null) as Quantize | null)}>
            {QUANTIZE.map((q) => (
              <option key={q} value={q}>
                {q || "Off"}
              </option>
            ))}
          </select>
        </label>
        <label>
          GM program (0-127)
          <input type="number" min={0} max={127} placeholder="by stem" value={value.program ?? ""} onChange={(e) => set("program", numOrNull(e.target.value))} />
        </label>
        <label>
          Drum channel
          <select value={value.drums === null ? "" : String(value.drums)} onChange={(e) => set("drums", e.target.value === "" ? null : e.target.value === "true")}>
            <option value="">Auto (drums stem)</option>
            <option value="true">Yes</option>
            <option value="false">No</option>
          </select>
        </label>
        <label>
          Melodia post-processing
          <input type="checkbox" checked={value.melodia_trick} onChange={(e) => set("melodia_trick", e.target.checked)} />
        </label>
        <label>
          Pitch bends
          <input type="checkbox" checked={value.pitch_bends} onChange={(e) => set("pitch_bends", e.target.checked)} />
        </label>
        <label>
          Separate bends per note
          <input type="checkbox" checked={value.multiple_pitch_bends} onChange={(e) => set("multiple_pitch_bends", e.target.checked)} />
        </label>
        <button type="button" className="btn-small" onClick={() => onChange(DEFAULT_SETTINGS)}>
          Defaults
        </button>
      </div>
    </details>
  );
}
