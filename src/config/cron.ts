/** Cron schedules as Nomad's `periodic.crons` takes them, checked before Nomad sees them. */
const cronAliases = new Set(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@hourly"]);
const cronFields: Array<{ name: string; min: number; max: number }> = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12 },
  { name: "day of week", min: 0, max: 7 },
];

/** Pure: why a cron expression (5 fields or an @alias, as Nomad's `periodic.crons`) is invalid, or undefined. */
export function cronProblem(expression: string): string | undefined {
  const text = expression.trim();
  if (cronAliases.has(text)) return undefined;
  const fields = text.split(/\s+/);
  if (fields.length !== 5)
    return `has ${fields.length} fields; a schedule is 5 (minute hour day month weekday) or @hourly, @daily, @weekly`;
  for (const [i, field] of fields.entries()) {
    const { name, min, max } = cronFields[i]!;
    for (const part of field.split(",")) {
      const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
      const numbers = m ? [m[2], m[3]].filter((n) => n !== undefined).map(Number) : [];
      if (!m || numbers.some((n) => n < min || n > max) || m[4] === "0")
        return `${name} field ${JSON.stringify(part)} is not a number from ${min} to ${max}, a range, * or a step`;
    }
  }
  return undefined;
}
