//! The message loop: document synchronisation, debounced linting, and the requests.
//!
//! Everything runs on one thread. Linting is debounced: a `didChange` only (re)arms a
//! per-document deadline, and the document is compiled when the deadline passes with no
//! further change, so a burst of keystrokes costs one compilation of the latest text.

use crate::documents::{Document, Documents};
use crate::lint::{fixes_in, lint, LintSettings};
use crate::text::{apply_change, LineIndex};
use crate::{completion, definition, hover};
use crossbeam_channel::RecvTimeoutError;
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Exit, LogMessage,
    Notification as _, PublishDiagnostics,
};
use lsp_types::request::{
    CodeActionRequest, Completion, GotoDefinition, HoverRequest, Request as _, Shutdown,
};
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOptions, CodeActionOrCommand, CodeActionParams,
    CodeActionProviderCapability, CompletionOptions, CompletionParams, CompletionResponse,
    DidChangeTextDocumentParams, DidCloseTextDocumentParams, DidOpenTextDocumentParams,
    GotoDefinitionParams, GotoDefinitionResponse, Hover, HoverContents, HoverParams,
    HoverProviderCapability, InitializeParams, InitializeResult, LogMessageParams, MarkupContent,
    MarkupKind, MessageType, OneOf, PositionEncodingKind, PublishDiagnosticsParams,
    ServerCapabilities, ServerInfo, TextDocumentSyncCapability, TextDocumentSyncKind,
    TextDocumentSyncOptions, Url, WorkspaceEdit,
};
use serde_json::Value;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// Settings of a server instance.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Quiet time after the last change before a document is compiled again.
    pub debounce: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            debounce: Duration::from_millis(200),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("protocol error: {0}")]
    Protocol(#[from] lsp_server::ProtocolError),
    #[error("invalid initialize parameters: {0}")]
    Initialize(#[from] serde_json::Error),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("the client closed the connection without `shutdown`")]
    Disconnected,
}

/// What the server announces in its `initialize` answer.
pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(PositionEncodingKind::UTF16),
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::INCREMENTAL),
                ..TextDocumentSyncOptions::default()
            },
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec!["(".into(), ",".into(), "%".into()]),
            ..CompletionOptions::default()
        }),
        definition_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..CodeActionOptions::default()
        })),
        ..ServerCapabilities::default()
    }
}

/// Runs the initialize handshake on `connection`, then serves until `shutdown` (followed by
/// `exit` or the end of the connection). A connection that ends without `shutdown` is
/// [`ServerError::Disconnected`].
pub fn serve(connection: &Connection, options: ServerOptions) -> Result<(), ServerError> {
    let (id, params) = connection.initialize_start()?;
    let settings = settings_from(&params);
    let result = InitializeResult {
        capabilities: capabilities(),
        server_info: Some(ServerInfo {
            name: "tapesync".into(),
            version: Some(env!("CARGO_PKG_VERSION").into()),
        }),
    };
    connection.initialize_finish(id, serde_json::to_value(result)?)?;
    let mut server = Server {
        conn: connection,
        docs: Documents::default(),
        pending: HashMap::new(),
        options,
        settings,
    };
    server.run()
}

/// Reads `initializationOptions`: `{"docsBaseUrl": "...", "compat": true}`, both optional.
fn settings_from(params: &Value) -> LintSettings {
    let mut settings = LintSettings::default();
    let init: Option<InitializeParams> = serde_json::from_value(params.clone()).ok();
    let options = init.and_then(|p| p.initialization_options);
    if let Some(base) = options
        .as_ref()
        .and_then(|o| o.get("docsBaseUrl"))
        .and_then(Value::as_str)
    {
        settings.docs_base = tapesync_compiler::diagnostics::codes::normalise_docs_base(base);
    }
    if let Some(compat) = options
        .as_ref()
        .and_then(|o| o.get("compat"))
        .and_then(Value::as_bool)
    {
        settings.compile.compat = compat;
    }
    settings
}

struct Server<'c> {
    conn: &'c Connection,
    docs: Documents,
    /// Documents waiting to be linted, with the time they are due.
    pending: HashMap<Url, Instant>,
    options: ServerOptions,
    settings: LintSettings,
}

type Answer = Result<Value, (ErrorCode, String)>;

impl Server<'_> {
    fn run(&mut self) -> Result<(), ServerError> {
        loop {
            let next = self.pending.values().min().copied();
            let message = match next {
                Some(deadline) => match self.conn.receiver.recv_deadline(deadline) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return Err(ServerError::Disconnected),
                },
                None => match self.conn.receiver.recv() {
                    Ok(m) => Some(m),
                    Err(_) => return Err(ServerError::Disconnected),
                },
            };
            match message {
                Some(Message::Request(req)) if req.method == Shutdown::METHOD => {
                    self.send(Response::new_ok(req.id, ()).into())?;
                    return self.await_exit();
                }
                Some(Message::Request(req)) => self.on_request(req)?,
                Some(Message::Notification(n)) => {
                    if n.method == Exit::METHOD {
                        // `exit` without `shutdown` first: the protocol's error case.
                        return Err(ServerError::Disconnected);
                    }
                    self.on_notification(n)?;
                }
                Some(Message::Response(_)) | None => {}
            }
            self.lint_due()?;
        }
    }

    /// After `shutdown` only `exit` is expected. A client that closes the connection instead
    /// (editors quitting right after `shutdown`) has finished too.
    fn await_exit(&self) -> Result<(), ServerError> {
        loop {
            match self.conn.receiver.recv_timeout(Duration::from_secs(30)) {
                Ok(Message::Notification(n)) if n.method == Exit::METHOD => return Ok(()),
                Ok(Message::Request(req)) => self.send(
                    Response::new_err(
                        req.id,
                        ErrorCode::InvalidRequest as i32,
                        "the server is shutting down".into(),
                    )
                    .into(),
                )?,
                Ok(_) => {}
                Err(_) => return Ok(()),
            }
        }
    }

    fn send(&self, message: Message) -> Result<(), ServerError> {
        self.conn
            .sender
            .send(message)
            .map_err(|_| ServerError::Disconnected)
    }

    fn on_notification(&mut self, n: Notification) -> Result<(), ServerError> {
        match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<DidOpenTextDocumentParams>(n.params) {
                    let uri = p.text_document.uri;
                    let doc = Document::new(&uri, p.text_document.text, p.text_document.version);
                    self.docs.insert(uri.clone(), doc);
                    // A fresh document is checked at once; documents including it see the
                    // editor's text from now on.
                    self.pending.insert(uri.clone(), Instant::now());
                    self.schedule_dependents(&uri, Instant::now());
                }
            }
            DidChangeTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<DidChangeTextDocumentParams>(n.params) {
                    let uri = p.text_document.uri;
                    if let Some(doc) = self.docs.get_mut(&uri) {
                        for change in &p.content_changes {
                            apply_change(&mut doc.text, change);
                        }
                        doc.version = p.text_document.version;
                        let due = Instant::now() + self.options.debounce;
                        self.pending.insert(uri.clone(), due);
                        self.schedule_dependents(&uri, due);
                    }
                }
            }
            DidCloseTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<DidCloseTextDocumentParams>(n.params) {
                    let uri = p.text_document.uri;
                    self.pending.remove(&uri);
                    if self.docs.remove(&uri).is_some() {
                        self.publish(&uri, Vec::new(), None)?;
                    }
                    // Documents including the closed file now read it from disk again.
                    self.schedule_dependents(&uri, Instant::now());
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Re-lints open documents whose last compilation read the file behind `uri`.
    fn schedule_dependents(&mut self, uri: &Url, due: Instant) {
        let Some(path) = crate::uri::path_for_uri(uri) else {
            return;
        };
        let dependents: Vec<Url> = self
            .docs
            .iter()
            .filter(|(u, d)| *u != uri && d.dependencies.contains(&path))
            .map(|(u, _)| u.clone())
            .collect();
        for u in dependents {
            self.pending.insert(u, due);
        }
    }

    fn lint_due(&mut self) -> Result<(), ServerError> {
        let now = Instant::now();
        let due: Vec<Url> = self
            .pending
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(u, _)| u.clone())
            .collect();
        for uri in due {
            self.lint_now(&uri)?;
        }
        Ok(())
    }

    fn lint_now(&mut self, uri: &Url) -> Result<(), ServerError> {
        self.pending.remove(uri);
        let Some(doc) = self.docs.get(uri) else {
            return Ok(());
        };
        let name = doc.compile_name(uri);
        let loader = self.docs.loader();
        let settings = &self.settings;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            lint(uri, &name, &doc.text, &loader, settings)
        }));
        let version = doc.version;
        match outcome {
            Ok(result) => {
                if let Some(doc) = self.docs.get_mut(uri) {
                    doc.dependencies = result.dependencies;
                    doc.fixes = result.fixes;
                }
                self.publish(uri, result.diagnostics, Some(version))
            }
            Err(panic) => self.log_error(&format!(
                "internal error while checking {uri}: {}",
                panic_message(&panic)
            )),
        }
    }

    fn publish(
        &self,
        uri: &Url,
        diagnostics: Vec<lsp_types::Diagnostic>,
        version: Option<i32>,
    ) -> Result<(), ServerError> {
        let params = PublishDiagnosticsParams {
            uri: uri.clone(),
            diagnostics,
            version,
        };
        self.send(Notification::new(PublishDiagnostics::METHOD.to_string(), params).into())
    }

    fn log_error(&self, message: &str) -> Result<(), ServerError> {
        let params = LogMessageParams {
            typ: MessageType::ERROR,
            message: message.to_string(),
        };
        self.send(Notification::new(LogMessage::METHOD.to_string(), params).into())
    }

    fn on_request(&mut self, req: Request) -> Result<(), ServerError> {
        // Quick fixes must match the text the client sees: finish a pending lint first.
        if req.method == CodeActionRequest::METHOD {
            if let Ok(p) = serde_json::from_value::<CodeActionParams>(req.params.clone()) {
                if self.pending.contains_key(&p.text_document.uri) {
                    self.lint_now(&p.text_document.uri)?;
                }
            }
        }
        let id: RequestId = req.id.clone();
        let answer = catch_unwind(AssertUnwindSafe(|| self.answer(&req))).unwrap_or_else(|panic| {
            Err((
                ErrorCode::InternalError,
                format!("internal error: {}", panic_message(&panic)),
            ))
        });
        let response = match answer {
            Ok(value) => Response::new_ok(id, value),
            Err((code, message)) => Response::new_err(id, code as i32, message),
        };
        self.send(response.into())
    }

    fn answer(&self, req: &Request) -> Answer {
        match req.method.as_str() {
            HoverRequest::METHOD => {
                let p: HoverParams = params(req)?;
                let pos = &p.text_document_position_params;
                let Some((doc, offset)) = self.locate(&pos.text_document.uri, pos.position) else {
                    return Ok(Value::Null);
                };
                let hover = hover::hover(&doc.text, offset).map(|h| Hover {
                    contents: HoverContents::Markup(MarkupContent {
                        kind: MarkupKind::Markdown,
                        value: h.markdown,
                    }),
                    range: Some(LineIndex::new(&doc.text).range(h.span.start, h.span.end)),
                });
                to_value(hover)
            }
            Completion::METHOD => {
                let p: CompletionParams = params(req)?;
                let pos = &p.text_document_position;
                let Some((doc, offset)) = self.locate(&pos.text_document.uri, pos.position) else {
                    return Ok(Value::Null);
                };
                let items = completion::completion(&doc.text, offset);
                to_value(CompletionResponse::Array(items))
            }
            GotoDefinition::METHOD => {
                let p: GotoDefinitionParams = params(req)?;
                let pos = &p.text_document_position_params;
                let uri = &pos.text_document.uri;
                let Some((doc, offset)) = self.locate(uri, pos.position) else {
                    return Ok(Value::Null);
                };
                let loader = self.docs.loader();
                let found =
                    definition::definition(uri, doc.path.as_deref(), &doc.text, offset, &loader);
                to_value(found.map(GotoDefinitionResponse::Scalar))
            }
            CodeActionRequest::METHOD => {
                let p: CodeActionParams = params(req)?;
                let uri = &p.text_document.uri;
                let Some(doc) = self.docs.get(uri) else {
                    return Ok(Value::Null);
                };
                let actions: Vec<CodeActionOrCommand> = fixes_in(&doc.fixes, p.range)
                    .into_iter()
                    .map(|fix| {
                        CodeActionOrCommand::CodeAction(CodeAction {
                            title: fix.title.clone(),
                            kind: Some(CodeActionKind::QUICKFIX),
                            diagnostics: Some(vec![fix.diagnostic.clone()]),
                            edit: Some(WorkspaceEdit {
                                changes: Some(HashMap::from([(
                                    uri.clone(),
                                    vec![fix.edit.clone()],
                                )])),
                                ..WorkspaceEdit::default()
                            }),
                            is_preferred: Some(true),
                            ..CodeAction::default()
                        })
                    })
                    .collect();
                to_value(actions)
            }
            other => Err((
                ErrorCode::MethodNotFound,
                format!("tapesync lsp does not handle `{other}`"),
            )),
        }
    }

    fn locate(&self, uri: &Url, position: lsp_types::Position) -> Option<(&Document, usize)> {
        let doc = self.docs.get(uri)?;
        let offset = LineIndex::new(&doc.text).offset(position);
        Some((doc, offset))
    }
}

fn params<P: serde::de::DeserializeOwned>(req: &Request) -> Result<P, (ErrorCode, String)> {
    serde_json::from_value(req.params.clone())
        .map_err(|e| (ErrorCode::InvalidParams, format!("invalid parameters: {e}")))
}

fn to_value<T: serde::Serialize>(value: T) -> Answer {
    serde_json::to_value(value).map_err(|e| (ErrorCode::InternalError, e.to_string()))
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string())
}
