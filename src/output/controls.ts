/**
 * Text a server said (an error body, a task event's message, a job's name) may carry terminal
 * control sequences: a colour, a window title (OSC), a cursor move that hides a line. Such text
 * reaches a terminal only through `stripControls`: escape sequences are removed whole, and every
 * other C0 or C1 control but newline and tab is dropped.
 */
import { mapStrings } from "./map-strings.js";

// ESC [ … final (CSI), ESC ] … BEL or ST (OSC), ESC P/X/^/_ … ST (DCS, SOS, PM, APC), the same
// introduced by the 8-bit C1 forms (CSI 0x9b, OSC 0x9d, DCS 0x90, SOS 0x98, PM 0x9e, APC 0x9f),
// and two-character escapes (ESC followed by one character).
const sequences =
  // eslint-disable-next-line no-control-regex
  /(?:\u001b\[|\u009b)[\u0030-\u003f]*[\u0020-\u002f]*[\u0040-\u007e]?|(?:\u001b[\]PX^_]|[\u009d\u0090\u0098\u009e\u009f])[^\u0007\u001b\u009c]*(?:\u0007|\u001b\\|\u009c)?|\u001b[\u0020-\u007e]?/g;
// What is left: C0 controls but tab (0x09) and newline (0x0a), DEL, and C1 controls.
// eslint-disable-next-line no-control-regex
const controls = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** Pure: `text` without terminal control sequences; newlines and tabs are kept. */
export function stripControls(text: string): string {
  return text.replace(sequences, "").replace(controls, "");
}

/** Pure: every string inside a value stripped as `stripControls` does; the shape is kept. */
export function stripControlsDeep<T>(value: T): T {
  return mapStrings(value, stripControls);
}
