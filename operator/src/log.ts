// Structured JSON logs; every line about a job carries job, namespace and attempt.
import winston from "winston";

export type Logger = winston.Logger;

export function createLogger(level: string): Logger {
  return winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json()),
    defaultMeta: { component: "gantry-operator" },
    transports: [new winston.transports.Console()],
  });
}
