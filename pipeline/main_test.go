package pipeline_test

import (
	"os"
	"testing"

	"github.com/attributor/attributor/pipeline/pipelinetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pipelinetest.RemoveBinary()
	os.Exit(code)
}
