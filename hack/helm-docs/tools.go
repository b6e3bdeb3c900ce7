//go:build tools

// Package tools pins helm-docs, the chart README generator: `go build -o BIN
// github.com/norwoodj/helm-docs/cmd/helm-docs` in this module builds it at the version in go.mod.
package tools

import _ "github.com/norwoodj/helm-docs/cmd/helm-docs"
