// Command kwok-stages prints the kwok Stage documents that hack/cluster puts in kwok's configuration file
// (after the KwokConfiguration): kwok's own embedded "fast" node and pod lifecycles plus the node
// heartbeat with leases. Keeping the stages in the config file spares the cluster kwok's Stage CRD.
package main

import (
	"os"
	"strings"

	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	lease "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
)

func main() {
	docs := []string{
		nodefast.DefaultNodeInit,
		lease.DefaultNodeHeartbeatWithLease,
		podfast.DefaultPodReady,
		podfast.DefaultPodComplete,
		podfast.DefaultPodDelete,
	}
	for _, d := range docs {
		os.Stdout.WriteString("---\n" + strings.TrimSpace(d) + "\n")
	}
}
