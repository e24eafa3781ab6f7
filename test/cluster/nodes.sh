#!/usr/bin/env bash
# Simulated nodes for KWOK, in named pools.
#
#   bash test/cluster/nodes.sh manifest POOL NAME [GPUS]   print a Node manifest (pipe to kubectl apply -f -);
#                                                         GPUS overrides the pool's GPU count
#
# Pools:
#   gpu-a100   on-demand, 8 × nvidia.com/gpu, 96 CPU, 1 TiB
#   gpu-spot   spot: labelled gantry.dev/spot=true and tainted gantry.dev/spot=true:NoSchedule, 8 GPUs
#   cpu        no GPUs, 16 CPU, 64 GiB, for system pods and CPU jobs
# Every node carries the annotation kwok.x-k8s.io/node=fake, which is how KWOK knows to manage it.
set -euo pipefail

manifest() {
  local pool=$1 name=$2 gpus_override=${3:-} gpus cpu memory spot=false product=""
  case $pool in
  gpu-a100) gpus=8 cpu=96 memory=1Ti product=NVIDIA-A100-SXM4-80GB ;;
  gpu-spot) gpus=8 cpu=96 memory=1Ti product=NVIDIA-A100-SXM4-80GB spot=true ;;
  cpu) gpus=0 cpu=16 memory=64Gi ;;
  *)
    echo "unknown pool '$pool' (known: gpu-a100 gpu-spot cpu)" >&2
    exit 2
    ;;
  esac
  [[ -n $gpus_override ]] && gpus=$gpus_override
  cat <<YAML
---
apiVersion: v1
kind: Node
metadata:
  name: $name
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    type: kwok
    kubernetes.io/hostname: $name
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    gantry.dev/pool: $pool
    gantry.dev/spot: "$spot"
$( [[ -n $product ]] && echo "    nvidia.com/gpu.product: $product" )
spec:
$( if [[ $spot == true ]]; then cat <<TAINT
  taints:
  - key: gantry.dev/spot
    value: "true"
    effect: NoSchedule
TAINT
fi )
status:
  capacity: {cpu: "$cpu", memory: $memory, pods: "110", nvidia.com/gpu: "$gpus", ephemeral-storage: 1Ti}
  allocatable: {cpu: "$cpu", memory: $memory, pods: "110", nvidia.com/gpu: "$gpus", ephemeral-storage: 1Ti}
YAML
}

case ${1:-} in
manifest) manifest "${2:?pool}" "${3:?name}" "${4:-}" ;;
*)
  echo "usage: $0 manifest POOL NAME [GPUS]" >&2
  exit 2
  ;;
esac
