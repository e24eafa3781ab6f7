// Command etcd is the upstream etcd server: the same main as
// go.etcd.io/etcd/v3 (the etcd repository's root main.go), which is not
// published as a module of its own.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
