// Command kube is a multi-call binary bundling the upstream Kubernetes
// control-plane commands (and kubectl) used by Gantry's integration tests.
//
// It dispatches on the base name of argv[0] (so a symlink named
// kube-apiserver works) or, failing that, on its first argument:
//
//	kube apiserver [flags]           (alias: kube-apiserver)
//	kube controller-manager [flags]  (alias: kube-controller-manager)
//	kube scheduler [flags]           (alias: kube-scheduler)
//	kube kubectl [args]
//
// The main functions mirror k8s.io/kubernetes/cmd/*/ of the pinned release.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	_ "time/tzdata" // for timeZone support in CronJob

	"github.com/spf13/cobra"

	_ "k8s.io/client-go/plugin/pkg/client/auth" // kubectl: client auth plugins
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // prometheus client-go plugins
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric registration
	_ "k8s.io/component-base/metrics/prometheus/workqueue"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

var tools = map[string]func() *cobra.Command{
	"apiserver":          apiserver.NewAPIServerCommand,
	"controller-manager": controllermanager.NewControllerManagerCommand,
	"scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kube {apiserver|controller-manager|scheduler|kubectl} [args...]")
	os.Exit(2)
}

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if name != "kubectl" && tools[strings.TrimPrefix(name, "kube-")] == nil {
		if len(args) == 0 {
			usage()
		}
		name, args = args[0], args[1:]
	}
	name = strings.TrimPrefix(name, "kube-")
	if name == "ctl" { // "kube-ctl" is not a thing, but be forgiving
		name = "kubectl"
	}
	// cobra reads os.Args[1:]; make the selected tool see a normal argv.
	if name == "kubectl" {
		os.Args = append([]string{"kubectl"}, args...)
		// As upstream cmd/kubectl: honour -v before flag parsing so klog works
		// while the command (plugins, .kuberc) is being constructed.
		logs.GlogSetter(kubectlcmd.GetLogVerbosity(os.Args)) // nolint:errcheck
		command := kubectlcmd.NewDefaultKubectlCommand()
		if err := cli.RunNoErrOutput(command); err != nil {
			kubectlutil.CheckErr(err) // pretty-prints the error and exits non-zero
		}
		return
	}
	newCommand, ok := tools[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "kube: unknown tool %q\n", name)
		usage()
	}
	os.Args = append([]string{"kube-" + name}, args...)
	os.Exit(cli.Run(newCommand()))
}
