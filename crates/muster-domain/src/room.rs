//! The incident room's input box: a line is a message for the timeline, or
//! a command (`/role tech_lead @carol database`, `/status identified` …)
//! that does what the buttons do. Parsing is pure; an unknown or malformed
//! command gets a reply that says how to write it, never an error page.

use crate::timeline::EntryKind;
use crate::update::UpdateAudience;
use crate::{Handle, Priority, Status};

/// What a line typed in the room asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomCommand {
    /// Plain text: a `message` entry.
    Say(String),
    /// `/note …`, `/theory …`, `/decision …`, `/action …`.
    Entry { kind: EntryKind, text: String },
    /// `/role <role> @user [scope]`
    Assign { role: String, user: Handle, scope: Option<String> },
    /// `/relieve @user <role>`
    Relieve { user: Handle, role: String },
    /// `/page @user [role=<role>] [message]`
    Page { user: Handle, role: Option<String>, message: Option<String> },
    /// `/status <status>`
    Status(Status),
    /// `/priority <P1-P4>`
    Priority(Priority),
    /// `/update <internal|external|executive> [draft] <text>`: publish an
    /// update for that audience (or keep it as a draft).
    Update { audience: UpdateAudience, draft: bool, text: String },
    /// `/customer [channel] <customer> [(organization)]: <what they said>`:
    /// log a customer report, link it to this incident and pass it on to
    /// the responders, in one line.
    Customer { channel: crate::support::ReportChannel, customer: String, organization: Option<String>, text: String },
    /// `/confirm <entry> [evidence]`, `/ruleout <entry> [evidence]`,
    /// `/reopen <entry> [why]`: judge a theory.
    Judge { theory: u64, status: crate::timeline::TheoryStatus, evidence: Option<String> },
    /// `/highlight <entry>`, `/unhighlight <entry>`: for the postmortem.
    Highlight { entry: u64, highlighted: bool },
    /// `/annotate <entry> <remark>`
    Annotate { entry: u64, text: String },
    /// `/report <conditions> | <actions> | <needs>`: a tech lead's report to
    /// the incident manager on their workstream (actions and needs may be
    /// left out).
    Report { conditions: String, actions: String, needs: String },
    /// `/help`
    Help,
}

/// How to write each command, for `/help` and for replies to mistakes.
pub const HELP: &str = "Commands: /note, /theory, /decision, /action <text>; /role <role> @user [scope]; \
/relieve @user <role>; /page @user [role=<role>] [message]; /status <investigating|identified|monitoring|resolved|closed>; \
/priority <P1|P2|P3|P4>; /update <internal|external|executive> [draft] <text>; \
/customer [ticket|phone|email|social|chat] <customer> [(organization)]: <what they said>; \
/confirm, /ruleout, /reopen <theory's entry> [evidence]; /highlight, /unhighlight <entry>; /annotate <entry> <remark>; \
/report <conditions> | <actions> | <needs>; \
/help. Anything else is a message.";

/// A line is at most this long.
pub const MAX_LINE: usize = 10_000;

/// Parses a line typed in the room. `Err` is the reply to show the person.
pub fn parse(line: &str) -> Result<RoomCommand, String> {
    let line = line.trim();
    if line.is_empty() {
        return Err("Type a message, or /help for the commands.".into());
    }
    if line.chars().count() > MAX_LINE {
        return Err(format!("A line has at most {MAX_LINE} characters."));
    }
    let Some(rest) = line.strip_prefix('/') else { return Ok(RoomCommand::Say(line.to_owned())) };
    let (name, args) = match rest.split_once(char::is_whitespace) {
        Some((n, a)) => (n, a.trim()),
        None => (rest, ""),
    };
    let words: Vec<&str> = args.split_whitespace().collect();
    let usage = |how: &str| Err(format!("Usage: {how}"));
    match name.to_ascii_lowercase().as_str() {
        "help" | "?" => Ok(RoomCommand::Help),
        verb @ ("confirm" | "ruleout" | "reopen") => {
            use crate::timeline::TheoryStatus;
            let how = format!("/{verb} <theory's entry> [evidence], e.g. /{verb} 12 the pool had room");
            let Some(theory) = words.first().and_then(|w| w.trim_start_matches('#').parse::<u64>().ok()) else {
                return usage(&how);
            };
            let evidence =
                args.split_once(char::is_whitespace).map(|(_, e)| e.trim().to_owned()).filter(|e| !e.is_empty());
            let status = match verb {
                "confirm" => TheoryStatus::Confirmed,
                "ruleout" => TheoryStatus::RuledOut,
                _ => TheoryStatus::Open,
            };
            Ok(RoomCommand::Judge { theory, status, evidence })
        }
        verb @ ("highlight" | "unhighlight") => match words.as_slice() {
            [entry] => match entry.trim_start_matches('#').parse::<u64>() {
                Ok(entry) => Ok(RoomCommand::Highlight { entry, highlighted: verb == "highlight" }),
                Err(_) => usage(&format!("/{verb} <entry>, e.g. /{verb} 12")),
            },
            _ => usage(&format!("/{verb} <entry>, e.g. /{verb} 12")),
        },
        "annotate" => {
            const HOW: &str = "/annotate <entry> <remark>, e.g. /annotate 12 this is when the pool ran dry";
            let Some((entry, text)) = args.split_once(char::is_whitespace) else { return usage(HOW) };
            match entry.trim_start_matches('#').parse::<u64>() {
                Ok(entry) if !text.trim().is_empty() => {
                    Ok(RoomCommand::Annotate { entry, text: text.trim().to_owned() })
                }
                _ => usage(HOW),
            }
        }
        "report" => {
            const HOW: &str = "/report <conditions> | <actions> | <needs>, e.g. \
/report the primary is at 100% CPU | failing over to the replica | a DBA";
            let mut parts = args.splitn(3, '|').map(|p| p.trim().to_owned());
            match parts.next() {
                Some(conditions) if !conditions.is_empty() => Ok(RoomCommand::Report {
                    conditions,
                    actions: parts.next().unwrap_or_default(),
                    needs: parts.next().unwrap_or_default(),
                }),
                _ => usage(HOW),
            }
        }
        kind @ ("note" | "theory" | "decision" | "action") => {
            if args.is_empty() {
                return usage(&format!("/{kind} <text>"));
            }
            let kind = kind.parse().expect("one of the written kinds");
            Ok(RoomCommand::Entry { kind, text: args.to_owned() })
        }
        "role" | "assign" => match words.as_slice() {
            [role, user, scope @ ..] if scope.len() <= 1 => match handle(user) {
                Some(user) => Ok(RoomCommand::Assign {
                    role: role.to_string(),
                    user,
                    scope: scope.first().map(|s| s.to_string()),
                }),
                None => Err(format!("{user:?} is not a person: write @handle. Usage: /role <role> @user [scope]")),
            },
            _ => usage("/role <role> @user [scope], e.g. /role tech_lead @carol database"),
        },
        "relieve" => match words.as_slice() {
            [user, role] => match handle(user) {
                Some(user) => Ok(RoomCommand::Relieve { user, role: role.to_string() }),
                None => Err(format!("{user:?} is not a person: write @handle. Usage: /relieve @user <role>")),
            },
            _ => usage("/relieve @user <role>, e.g. /relieve @dan tech_lead"),
        },
        "page" => match words.as_slice() {
            [user, rest @ ..] => {
                let Some(user) = handle(user) else {
                    return Err(format!(
                        "{user:?} is not a person: write @handle. Usage: /page @user [role=<role>] [message]"
                    ));
                };
                let (role, message_words) = match rest.first().and_then(|w| w.strip_prefix("role=")) {
                    Some(r) if !r.is_empty() => (Some(r.to_owned()), &rest[1..]),
                    _ => (None, rest),
                };
                let message = (!message_words.is_empty()).then(|| message_words.join(" "));
                Ok(RoomCommand::Page { user, role, message })
            }
            _ => usage("/page @user [role=<role>] [message], e.g. /page @erin role=tech_lead the database is slow"),
        },
        "status" => match words.as_slice() {
            [s] => s.parse().map(RoomCommand::Status).map_err(|_| {
                format!("{s:?} is not a status. Usage: /status <investigating|identified|monitoring|resolved|closed>")
            }),
            _ => usage("/status <investigating|identified|monitoring|resolved|closed>"),
        },
        "priority" => match words.as_slice() {
            [p] => p
                .to_ascii_uppercase()
                .parse()
                .map(RoomCommand::Priority)
                .map_err(|_| format!("{p:?} is not a priority. Usage: /priority <P1|P2|P3|P4>")),
            _ => usage("/priority <P1|P2|P3|P4>"),
        },
        "update" => {
            const HOW: &str =
                "/update <internal|external|executive> [draft] <text>, e.g. /update external We found the cause.";
            let Some((audience, text)) = args.split_once(char::is_whitespace) else { return usage(HOW) };
            let Ok(audience) = audience.parse::<UpdateAudience>() else {
                return Err(format!("{audience:?} is not an audience. Usage: {HOW}"));
            };
            let text = text.trim();
            let (draft, text) = match text.split_once(char::is_whitespace) {
                Some((w, rest)) if w.eq_ignore_ascii_case("draft") => (true, rest.trim()),
                _ => (false, text),
            };
            if text.is_empty() || text.eq_ignore_ascii_case("draft") {
                return usage(HOW);
            }
            Ok(RoomCommand::Update { audience, draft, text: text.to_owned() })
        }
        "customer" => {
            const HOW: &str = "/customer [ticket|phone|email|social|chat] <customer> [(organization)]: <what they said>, \
                               e.g. /customer phone Ann Lee (Acme): card payments fail at checkout";
            let Some((who, text)) = args.split_once(':') else { return usage(HOW) };
            let (text, who) = (text.trim(), who.trim());
            let (channel, who) = match who.split_once(char::is_whitespace) {
                Some((first, rest)) => match first.parse::<crate::support::ReportChannel>() {
                    Ok(c) => (c, rest.trim()),
                    Err(_) => (crate::support::ReportChannel::Chat, who),
                },
                // A channel and no customer.
                None if who.parse::<crate::support::ReportChannel>().is_ok() => return usage(HOW),
                None => (crate::support::ReportChannel::Chat, who),
            };
            let (customer, organization) = match who.strip_suffix(')').and_then(|w| w.rsplit_once('(')) {
                Some((c, o)) if !o.trim().is_empty() => (c.trim(), Some(o.trim().to_owned())),
                _ => (who, None),
            };
            if customer.is_empty() || text.is_empty() {
                return usage(HOW);
            }
            Ok(RoomCommand::Customer { channel, customer: customer.to_owned(), organization, text: text.to_owned() })
        }
        other => Err(format!("There is no command /{other}. {HELP}")),
    }
}

/// `@carol` or `carol` as a handle.
fn handle(word: &str) -> Option<Handle> {
    Handle::parse(word.strip_prefix('@').unwrap_or(word)).ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn h(s: &str) -> Handle {
        Handle::parse(s).unwrap()
    }

    #[test]
    fn the_room_commands_parse() {
        assert_eq!(parse("db is back"), Ok(RoomCommand::Say("db is back".into())));
        assert_eq!(
            parse("/role tech_lead @carol database"),
            Ok(RoomCommand::Assign { role: "tech_lead".into(), user: h("carol"), scope: Some("database".into()) })
        );
        assert_eq!(
            parse("/relieve @dan tech_lead"),
            Ok(RoomCommand::Relieve { user: h("dan"), role: "tech_lead".into() })
        );
        assert_eq!(parse("/page @erin"), Ok(RoomCommand::Page { user: h("erin"), role: None, message: None }));
        assert_eq!(
            parse("/page @erin role=tech_lead replica lag"),
            Ok(RoomCommand::Page {
                user: h("erin"),
                role: Some("tech_lead".into()),
                message: Some("replica lag".into())
            })
        );
        assert_eq!(parse("/status identified"), Ok(RoomCommand::Status(Status::Identified)));
        assert_eq!(parse("/priority p1"), Ok(RoomCommand::Priority(Priority::P1)));
        assert_eq!(
            parse("/theory  connection pool exhausted "),
            Ok(RoomCommand::Entry { kind: EntryKind::Theory, text: "connection pool exhausted".into() })
        );
        assert_eq!(parse("/help"), Ok(RoomCommand::Help));
        assert_eq!(
            parse("/update external  We found the cause. "),
            Ok(RoomCommand::Update {
                audience: UpdateAudience::External,
                draft: false,
                text: "We found the cause.".into()
            })
        );
        assert_eq!(
            parse("/customer phone Ann Lee (Acme): card payments fail"),
            Ok(RoomCommand::Customer {
                channel: crate::support::ReportChannel::Phone,
                customer: "Ann Lee".into(),
                organization: Some("Acme".into()),
                text: "card payments fail".into()
            })
        );
        assert_eq!(
            parse("/customer @shopper: is checkout down?"),
            Ok(RoomCommand::Customer {
                channel: crate::support::ReportChannel::Chat,
                customer: "@shopper".into(),
                organization: None,
                text: "is checkout down?".into()
            })
        );
        assert_eq!(
            parse("/update internal draft failing over"),
            Ok(RoomCommand::Update { audience: UpdateAudience::Internal, draft: true, text: "failing over".into() })
        );
        use crate::timeline::TheoryStatus;
        assert_eq!(
            parse("/ruleout 12 the pool had 40 free connections"),
            Ok(RoomCommand::Judge {
                theory: 12,
                status: TheoryStatus::RuledOut,
                evidence: Some("the pool had 40 free connections".into())
            })
        );
        assert_eq!(
            parse("/confirm #7"),
            Ok(RoomCommand::Judge { theory: 7, status: TheoryStatus::Confirmed, evidence: None })
        );
        assert_eq!(parse("/highlight 9"), Ok(RoomCommand::Highlight { entry: 9, highlighted: true }));
        assert_eq!(
            parse("/report primary at 100% CPU | failing over | a DBA "),
            Ok(RoomCommand::Report {
                conditions: "primary at 100% CPU".into(),
                actions: "failing over".into(),
                needs: "a DBA".into()
            })
        );
        assert_eq!(
            parse("/report errors falling"),
            Ok(RoomCommand::Report {
                conditions: "errors falling".into(),
                actions: String::new(),
                needs: String::new()
            })
        );
        assert_eq!(parse("/unhighlight 9"), Ok(RoomCommand::Highlight { entry: 9, highlighted: false }));
        assert_eq!(
            parse("/annotate 9 when the pool ran dry"),
            Ok(RoomCommand::Annotate { entry: 9, text: "when the pool ran dry".into() })
        );
    }

    #[test]
    fn mistakes_get_a_reply_that_says_how() {
        assert!(parse("/frobnicate").unwrap_err().contains("There is no command /frobnicate"));
        assert!(parse("/status sleeping").unwrap_err().contains("Usage: /status"));
        assert!(parse("/role tech_lead").unwrap_err().contains("Usage: /role"));
        assert!(parse("/role tech_lead carol!!").unwrap_err().contains("not a person"));
        assert!(parse("/note").unwrap_err().contains("Usage: /note <text>"));
        assert!(parse("/report").unwrap_err().contains("Usage: /report <conditions>"));
        assert!(parse("/report | x").unwrap_err().contains("Usage: /report"));
        assert!(parse("/update everyone hi").unwrap_err().contains("not an audience"));
        assert!(parse("/update internal").unwrap_err().contains("Usage: /update"));
        assert!(parse("/update internal draft").unwrap_err().contains("Usage: /update"));
        assert!(parse("/customer Ann Lee").unwrap_err().contains("Usage: /customer"));
        assert!(parse("/customer phone: down").unwrap_err().contains("Usage: /customer"));
        assert!(parse("/confirm the pool").unwrap_err().contains("Usage: /confirm <theory's entry>"));
        assert!(parse("/highlight").unwrap_err().contains("Usage: /highlight <entry>"));
        assert!(parse("/annotate 9").unwrap_err().contains("Usage: /annotate"));
        assert!(parse("   ").is_err());
    }

    proptest! {
        /// Any line parses to a command or to a reply; a line without a
        /// leading slash is always a message with its text.
        #[test]
        fn any_line_is_a_command_a_message_or_a_reply(line in "\\PC{0,60}") {
            match parse(&line) {
                Ok(RoomCommand::Say(text)) => prop_assert_eq!(text, line.trim()),
                Ok(_) => prop_assert!(line.trim().starts_with('/')),
                Err(reply) => prop_assert!(!reply.is_empty()),
            }
        }
    }
}
