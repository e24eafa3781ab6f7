// Environment variables the operator gives every worker pod, and the trainer and dataloader read. One list, so both
// sides use the same names.
export const POD_ENV = {
  jobName: "GANTRY_JOB_NAME",
  jobNamespace: "GANTRY_JOB_NAMESPACE",
  jobUid: "GANTRY_JOB_UID",
  attempt: "GANTRY_ATTEMPT",
  /** The validated job spec, defaults applied, as JSON. */
  spec: "GANTRY_SPEC",
  /** Index of this worker pod in the gang, 0-based. */
  workerIndex: "GANTRY_WORKER_INDEX",
  /** Workers in this attempt (elastic jobs change it only between attempts). */
  workers: "GANTRY_WORKERS",
  /** Ranks in this pod: max(gpusPerWorker, 1). */
  localWorldSize: "LOCAL_WORLD_SIZE",
  /** Ranks in the job: workers × LOCAL_WORLD_SIZE. */
  worldSize: "WORLD_SIZE",
  /** Global rank of this pod's first rank: workerIndex × LOCAL_WORLD_SIZE. */
  rankBase: "GANTRY_RANK_BASE",
  /** DNS name of worker 0, through the job's headless Service. */
  masterAddr: "MASTER_ADDR",
  masterPort: "MASTER_PORT",
  podName: "POD_NAME",
  podIp: "POD_IP",
  checkpointUri: "GANTRY_CHECKPOINT_URI",
  redisUrl: "REDIS_URL",
  s3Endpoint: "S3_ENDPOINT",
  s3Region: "S3_REGION",
  s3ForcePathStyle: "S3_FORCE_PATH_STYLE",
  s3AccessKeyId: "AWS_ACCESS_KEY_ID",
  s3SecretAccessKey: "AWS_SECRET_ACCESS_KEY",
  s3SessionToken: "AWS_SESSION_TOKEN",
} as const;

/** Port of the trainer's collective transport on every worker. */
export const MASTER_PORT = 29500;
