package agents

import "encoding/json"

// UnmarshalJSON accepts both spellings of a thread's id: "id" (Managed Deep
// Agents API) and "thread_id" (Agent Server). When both are present,
// "thread_id" wins.
func (t *Thread) UnmarshalJSON(b []byte) error {
	type plain Thread // no methods: avoids recursing into UnmarshalJSON
	var aux struct {
		plain
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*t = Thread(aux.plain)
	if t.ThreadID == "" {
		t.ThreadID = aux.ID
	}
	return nil
}
