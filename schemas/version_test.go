package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
)

// ddlHashes pins the DDL of each schema version. A change to
// schemas/clickhouse/*.sql or AddedColumns needs a new SchemaVersion (so
// that Migrate replaces the views of databases at the old one) and its
// hash here.
var ddlHashes = map[int]string{
	1: "537b5bf56abf2a178c1950ea351d6a742166bd8c24e035d3245889910e82e2ad",
	2: "0c0e13ce44f0e21f2dc18ec32ccbdfd060509d644769243974b7aaa43a61689f",
	3: "9957a607ba3ada0c2099b13c6871996d44f0162dd1998a6390de07e324045e9b",
	4: "f13139a98a69037c495946b162a7aa1ba8eeb3f748e97609a5b4ddb9dec0fc8d",
	5: "68dd68747ca4a775e43a0a0a555494e6a95cd734e508f406abb2ab647bf2781c",
	6: "f403c30aa8da69a4bab43f61b4aea4f9c099546472cbb08d102952af7a2d9f28",
	7: "0a744490d29a2354cb26c94104583705613704c58311c8a3e8a57ab3071bec73",
}

func TestSchemaVersionCoversDDL(t *testing.T) {
	stmts, err := DDL("db")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, s := range stmts {
		fmt.Fprintf(h, "%s\n%s\n", s.File, s.SQL)
	}
	for _, c := range AddedColumns {
		fmt.Fprintf(h, "%s.%s %s\n", c.Table, c.Column, c.Type)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if want, ok := ddlHashes[SchemaVersion]; !ok || want != got {
		t.Errorf("the DDL hashes to %s, but SchemaVersion %d pins %q: a changed schema needs SchemaVersion bumped and its hash added to ddlHashes", got, SchemaVersion, want)
	}
}
