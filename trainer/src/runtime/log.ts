// The trainer's structured log: winston JSON lines on stdout, every line carrying job, attempt and rank.
import winston from "winston";

export type TrainerLogger = winston.Logger;

export function createTrainerLogger(fields: { job: string; attempt: number; rank: number }, level = process.env["GANTRY_LOG_LEVEL"] ?? "info"): TrainerLogger {
  return winston.createLogger({
    level,
    defaultMeta: fields,
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: [] })],
  });
}
