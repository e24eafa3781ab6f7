// Building blocks shared by the LLMTrainingJob schema: Kubernetes-shaped strings, URIs and Secret references.
import { z } from "zod";

/** A Kubernetes resource quantity written as a string, for example "500m", "8Gi" or "2". */
export const QUANTITY_PATTERN = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;
export const quantity = (what: string) =>
  z
    .string()
    .max(64)
    .regex(QUANTITY_PATTERN, { message: "must be a Kubernetes quantity such as 500m, 8Gi or 2" })
    .describe(what);

/** DNS-1123 label: the shape of Secret, container and most object names. */
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const dnsLabel = (what: string) =>
  z
    .string()
    .min(1)
    .max(63)
    .regex(DNS1123_LABEL, { message: "must be a DNS-1123 label: lower-case letters, digits and '-'" })
    .describe(what);

/** DNS-1123 subdomain, for Secret and PriorityClass names. */
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const dnsSubdomain = (what: string) =>
  z
    .string()
    .min(1)
    .max(253)
    .regex(DNS1123_SUBDOMAIN, { message: "must be a DNS-1123 subdomain" })
    .describe(what);

/** A storage location the dataloader and trainer can read: an S3 bucket and prefix, or a local path. */
export const STORAGE_URI = /^(s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/\S*)?|file:\/\/\/\S*)$/;
export const storageUri = (what: string) =>
  z
    .string()
    .max(1024)
    .regex(STORAGE_URI, { message: "must be s3://bucket/prefix or file:///absolute/path" })
    .describe(what);

/** An http(s) endpoint with no credentials in it (credentials come only from Secrets). */
export const ENDPOINT = /^https?:\/\/[^\s/@]+(\/\S*)?$/;
export const endpoint = (what: string) =>
  z
    .string()
    .max(512)
    .regex(ENDPOINT, { message: "must be http(s)://host[:port] with no credentials in it" })
    .describe(what);

/** A key in a Secret's data. */
export const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
export const secretKey = (what: string, fallback: string) =>
  z.string().min(1).max(253).regex(SECRET_KEY, { message: "must be a Secret data key" }).default(fallback).describe(what);

export const secretKeyRef = (what: string, defaultKey: string) =>
  z
    .strictObject({
      name: dnsSubdomain("Name of a Secret in the job's namespace."),
      key: secretKey("Key within the Secret.", defaultKey),
    })
    .describe(what);

export const positiveInt = (what: string) => z.int().min(1).describe(what);
export const nonNegativeInt = (what: string) => z.int().min(0).describe(what);
