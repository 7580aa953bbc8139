package slackpost

import (
	"strconv"
	"strings"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot/internal/slacktext"
)

// taskTitleMax bounds a task card's title. Slack documents no limit for
// task_update titles; they are kept as short as a header block's text.
const taskTitleMax = 150

// planTitle heads the plan the todos are shown under.
const planTitle = "Plan"

// streamTasks is what the stream shows of the agent's plan and running
// tools, as task cards: one per todo (by position) and one per activity line
// (a running tool or subagent), marked complete once it is gone. Only what
// changed is sent.
type streamTasks struct {
	planSent   bool
	shown      map[string]taskCard // id -> card as last sent
	todoCount  int
	activityID map[string]string // open activity line -> its task id
	activities int               // activity task ids handed out
}

type taskCard struct{ title, status string }

// todoStatus maps a todo's status to a task card's.
func todoStatus(s string) slack.TaskCardStatus {
	switch s {
	case TodoCompleted:
		return slack.TaskCardStatusComplete
	case TodoInProgress:
		return slack.TaskCardStatusInProgress
	}
	return slack.TaskCardStatusPending
}

func taskTitle(s string) string {
	s = strings.ReplaceAll(oneLine(s), "`", "")
	return slacktext.Truncate(slacktext.Defuse(s), taskTitleMax)
}

// diff is the chunks that bring the stream's task cards to pr. ok is false
// when cards cannot show pr: Slack has no way to remove a card, so a plan
// that shrank needs chat.update.
func (t *streamTasks) diff(pr Progress) ([]slack.StreamChunk, bool) {
	if len(pr.Todos) < t.todoCount {
		return nil, false
	}
	var chunks []slack.StreamChunk
	add := func(id, title string, status slack.TaskCardStatus) {
		if old, ok := t.shown[id]; ok && old == (taskCard{title, string(status)}) {
			return
		}
		c := slack.NewTaskUpdateChunk(id, title)
		c.Status = status
		chunks = append(chunks, c)
	}
	if len(pr.Todos) > 0 && !t.planSent {
		chunks = append(chunks, slack.NewPlanUpdateChunk(planTitle))
	}
	for i, todo := range pr.Todos {
		title := taskTitle(todo.Content)
		if title == "" {
			title = "Step " + strconv.Itoa(i+1)
		}
		add("todo-"+strconv.Itoa(i), title, todoStatus(todo.Status))
	}
	open := map[string]bool{}
	for _, line := range strings.Split(pr.Activity, "\n") {
		title := taskTitle(line)
		if title == "" || open[title] {
			continue
		}
		open[title] = true
		id, ok := t.activityID[title]
		if !ok {
			t.activities++ // ids of chunks Slack never took are simply skipped
			id = "activity-" + strconv.Itoa(t.activities)
		}
		add(id, title, slack.TaskCardStatusInProgress)
	}
	for title, id := range t.activityID {
		if !open[title] {
			add(id, title, slack.TaskCardStatusComplete)
		}
	}
	return chunks, true
}

// sent records chunks Slack accepted.
func (t *streamTasks) sent(chunks []slack.StreamChunk) {
	if t.shown == nil {
		t.shown, t.activityID = map[string]taskCard{}, map[string]string{}
	}
	for _, c := range chunks {
		switch c := c.(type) {
		case slack.PlanUpdateChunk:
			t.planSent = true
		case slack.TaskUpdateChunk:
			t.shown[c.ID] = taskCard{c.Title, string(c.Status)}
			if n, ok := strings.CutPrefix(c.ID, "todo-"); ok {
				if i, err := strconv.Atoi(n); err == nil {
					t.todoCount = max(t.todoCount, i+1)
				}
				continue
			}
			if c.Status == slack.TaskCardStatusInProgress {
				t.activityID[c.Title] = c.ID
			} else {
				delete(t.activityID, c.Title)
			}
		}
	}
}

// failOpen turns chunks that complete running activities into errors: the
// run failed while they worked.
func (t *streamTasks) failOpen(chunks []slack.StreamChunk) []slack.StreamChunk {
	for i, c := range chunks {
		if tc, ok := c.(slack.TaskUpdateChunk); ok && strings.HasPrefix(tc.ID, "activity-") && tc.Status == slack.TaskCardStatusComplete {
			tc.Status = slack.TaskCardStatusError
			chunks[i] = tc
		}
	}
	return chunks
}
