package audit

import (
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// TestPackageDoc fails if the package loses its doc comment.
func TestPackageDoc(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	if f.Doc == nil || !strings.HasPrefix(f.Doc.Text(), "Package audit ") {
		t.Error("doc.go has no package comment starting with \"Package audit \"")
	}
}
