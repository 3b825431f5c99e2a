-- Scripted editor session: neovim's built-in LSP client against `tapesync lsp`.
--
--   TAPESYNC_LSP_CMD="/path/to/tapesync lsp" SMOKE_FILE=broken.ttidef SMOKE_OUT=out.txt \
--     nvim --headless -u NONE -i NONE -n -c "luafile editors/nvim/smoke.lua"
--
-- Opens SMOKE_FILE, starts the server (vim.lsp.start on neovim >= 0.8, start_client +
-- buf_attach_client on 0.7), waits for diagnostics, asks for a hover on line 1 and a
-- completion on the last line, writes one line per result to SMOKE_OUT (or stdout) and quits.
-- Exit status: 0 when diagnostics arrived, 1 otherwise.

local cmd = vim.split(os.getenv('TAPESYNC_LSP_CMD') or 'tapesync lsp', ' ', { trimempty = true })
local file = assert(os.getenv('SMOKE_FILE'), 'SMOKE_FILE is not set')
local out_path = os.getenv('SMOKE_OUT')
local lines = {}
local function say(s)
  table.insert(lines, s)
end
local function finish(status)
  if out_path then
    vim.fn.writefile(lines, out_path)
  else
    io.stdout:write(table.concat(lines, '\n') .. '\n')
  end
  vim.cmd(status == 0 and 'qall!' or 'cquit!')
end

vim.cmd('edit ' .. vim.fn.fnameescape(file))
vim.bo.filetype = 'ttidef'
local buf = vim.api.nvim_get_current_buf()
local config = {
  name = 'tapesync',
  cmd = cmd,
  root_dir = vim.fn.fnamemodify(file, ':p:h'),
}
local client_id
if vim.lsp.start then
  client_id = vim.lsp.start(config)
else
  client_id = vim.lsp.start_client(config)
  vim.lsp.buf_attach_client(buf, client_id)
end
say('client: ' .. tostring(client_id) .. ' (' .. table.concat(cmd, ' ') .. ')')

local got = vim.wait(15000, function()
  return #vim.diagnostic.get(buf) > 0
end, 50)
if not got then
  say('no diagnostics within 15 s')
  finish(1)
  return
end

local names = { [1] = 'error', [2] = 'warning', [3] = 'info', [4] = 'hint' }
for _, d in ipairs(vim.diagnostic.get(buf)) do
  local lsp = (d.user_data or {}).lsp or {}
  local code = d.code or lsp.code or '?'
  local line = vim.api.nvim_buf_get_lines(buf, d.lnum, d.lnum + 1, false)[1] or ''
  -- d.col is a byte column: neovim converted the server's UTF-16 column itself.
  local at = line:sub(d.col + 1, d.end_col)
  say(string.format('diagnostic %s:%d:%d-%d %s[%s] %q: %s', vim.fn.fnamemodify(file, ':t'),
    d.lnum + 1, d.col + 1, d.end_col + 1, names[d.severity] or '?', code, at,
    vim.split(d.message, '\n')[1]))
end

local uri = vim.uri_from_bufnr(buf)
local hover = vim.lsp.buf_request_sync(buf, 'textDocument/hover',
  { textDocument = { uri = uri }, position = { line = 1, character = 3 } }, 5000)
for _, r in pairs(hover or {}) do
  local value = r.result and r.result.contents and r.result.contents.value or ''
  say('hover line 2: ' .. (vim.split(value, '\n')[2] or value))
end
local last = vim.api.nvim_buf_line_count(buf) - 1
local completion = vim.lsp.buf_request_sync(buf, 'textDocument/completion',
  { textDocument = { uri = uri }, position = { line = last, character = 0 } }, 5000)
for _, r in pairs(completion or {}) do
  local items = r.result or {}
  if items.items then
    items = items.items
  end
  say(string.format('completion at line %d: %d items, first %s', last + 1, #items,
    items[1] and items[1].label or '-'))
end
vim.lsp.stop_client(client_id)
finish(0)
