package projector

import (
	"errors"
	"slices"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// stubMsg stands for a message that release keeps or lets go; nothing
// calls its methods.
type stubMsg struct {
	jetstream.Msg
	seq uint64
}

func TestRelease(t *testing.T) {
	refused := errors.New("refused")
	tests := []struct {
		name    string
		seqs    []uint64 // per message; 0: its metadata could not be read
		refused []int    // indexes of messages whose event was refused
		from    int
		kept    []uint64 // the sequences of the messages left in the batch
	}{
		{name: "one run", seqs: []uint64{5, 6, 7, 8}, kept: []uint64{8}},
		{name: "refused kept", seqs: []uint64{5, 6, 7, 8}, refused: []int{1}, kept: []uint64{6, 8}},
		{name: "before a redelivery", seqs: []uint64{5, 6, 7, 3}, kept: []uint64{7, 3}},
		{name: "redeliveries first", seqs: []uint64{3, 4, 5, 6}, kept: []uint64{6}},
		{name: "before a gap", seqs: []uint64{5, 6, 8, 9}, kept: []uint64{6, 9}},
		{name: "around a metadata error", seqs: []uint64{5, 6, 0, 8, 9}, kept: []uint64{6, 0, 9}},
		{name: "one message", seqs: []uint64{5}, kept: []uint64{5}},
		{name: "from", seqs: []uint64{5, 6, 7, 8, 9}, from: 2, kept: []uint64{5, 6, 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			batch := make([]jetstream.Msg, len(tt.seqs))
			checked := make([]checked, len(tt.seqs))
			for i, s := range tt.seqs {
				batch[i] = stubMsg{seq: s}
				if s == 0 {
					checked[i].metaErr = errors.New("no metadata")
					continue
				}
				checked[i].meta = &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: s}}
				if slices.Contains(tt.refused, i) {
					checked[i].err = refused
				}
			}
			release(batch, checked, tt.from)
			var kept []uint64
			for _, m := range batch {
				if m != nil {
					kept = append(kept, m.(stubMsg).seq)
				}
			}
			if !slices.Equal(kept, tt.kept) {
				t.Errorf("kept %v, want %v", kept, tt.kept)
			}
		})
	}
}
