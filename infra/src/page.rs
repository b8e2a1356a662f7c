//! The `/_local` page: outbox, email states, recent webhook events and reminder runs. Every
//! value is HTML-escaped; the page is rebuilt on each reload.

use std::fmt::Write as _;

use email_retry::record::EmailRecord;

use crate::ports::DeadLetters;
use crate::stack::Stack;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn table(out: &mut String, title: &str, head: &[&str], rows: &[Vec<String>]) {
    let _ = write!(out, "<h2>{}</h2>", escape(title));
    if rows.is_empty() {
        out.push_str("<p class=none>none yet</p>");
        return;
    }
    out.push_str("<table><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

async fn email_records(stack: &Stack) -> Vec<EmailRecord> {
    if let Some(memory) = &stack.ports.memory_emails {
        return memory.snapshot();
    }
    let mut out = Vec::new();
    for id in stack.activity.jobs() {
        if let Ok(Some(record)) = stack.ports.emails.get(&id).await {
            out.push(record);
        }
    }
    out
}

/// The page's HTML.
pub async fn render(stack: &Stack) -> String {
    let mut out = String::from(
        "<!doctype html><html><head><meta charset=utf-8><title>bundle: local stack</title>\
         <style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}.none{color:#888}</style>\
         </head><body><h1>Local stack</h1>",
    );
    let _ = write!(
        out,
        "<p>backend: {} &middot; reload to refresh</p>",
        escape(&stack.ports.description)
    );
    let sent: Vec<Vec<String>> = stack
        .activity
        .sent_lines()
        .into_iter()
        .map(|s| {
            vec![
                s.at.format("%H:%M:%S").to_string(),
                s.template.clone(),
                s.to,
                s.subject,
                s.message_id,
            ]
        })
        .collect();
    table(
        &mut out,
        "Outbox",
        &["time", "template", "to", "subject", "message id"],
        &sent,
    );

    let mut records = email_records(stack).await;
    records.sort_by(|a, b| a.job_id.cmp(&b.job_id));
    let states: Vec<Vec<String>> = records
        .into_iter()
        .map(|r| {
            vec![
                r.job_id,
                r.status.as_str().to_owned(),
                r.attempts.to_string(),
                r.last_error.or(r.reason).unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &mut out,
        "Email states",
        &["job", "status", "attempts", "error / reason"],
        &states,
    );
    if let DeadLetters::Memory(queue) = &stack.ports.dead_letters {
        let _ = write!(
            out,
            "<p>queue: {} waiting &middot; dead letters: {}</p>",
            queue.len(),
            queue.dead_letters().len()
        );
    }

    let hooks: Vec<Vec<String>> = stack
        .activity
        .webhooks()
        .into_iter()
        .map(|w| {
            vec![
                w.at.format("%H:%M:%S").to_string(),
                w.event_type.unwrap_or_default(),
                w.event_id.unwrap_or_default(),
                w.status.to_string(),
                w.outcome,
            ]
        })
        .collect();
    table(
        &mut out,
        "Webhook events",
        &["time", "type", "id", "status", "outcome"],
        &hooks,
    );

    let runs: Vec<Vec<String>> = stack
        .activity
        .runs()
        .into_iter()
        .map(|r| vec![r.at.format("%H:%M:%S").to_string(), r.trigger, r.result])
        .collect();
    table(
        &mut out,
        "Reminder runs",
        &["time", "trigger", "summary"],
        &runs,
    );
    out.push_str("</body></html>");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            super::escape(r#"<script>alert("x&y")</script>'"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#39;"
        );
    }
}
