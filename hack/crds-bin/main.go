// Command crds prints the upstream CustomResourceDefinitions that infercap writes to and that a Go
// package embeds: Karpenter's NodePool (sigs.k8s.io/karpenter/pkg/apis). hack/cluster installs them.
package main

import (
	"os"

	karpenter "sigs.k8s.io/karpenter/pkg/apis"
)

func main() {
	os.Stdout.Write(karpenter.NodePoolCRD)
}
