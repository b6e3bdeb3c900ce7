// Command crds prints the upstream CustomResourceDefinitions that a Go package embeds and that the local
// cluster needs: Karpenter's NodePool, NodeClaim, NodeOverlay and CapacityBuffer
// (sigs.k8s.io/karpenter/pkg/apis; Karpenter's readiness check needs all four) and its kwok provider's
// KWOKNodeClass (sigs.k8s.io/karpenter/kwok/apis), as one multi-document YAML stream. hack/cluster
// installs them.
package main

import (
	"bytes"
	"os"

	karpenter "sigs.k8s.io/karpenter/pkg/apis"
	kwok "sigs.k8s.io/karpenter/kwok/apis"
)

func main() {
	for _, crd := range [][]byte{
		karpenter.NodePoolCRD,
		karpenter.NodeClaimCRD,
		karpenter.NodeOverlayCRD,
		karpenter.CapacityBufferCRD,
		kwok.KWOKNodeClassCRD,
	} {
		os.Stdout.WriteString("---\n")
		os.Stdout.Write(bytes.TrimSpace(crd))
		os.Stdout.WriteString("\n")
	}
}
