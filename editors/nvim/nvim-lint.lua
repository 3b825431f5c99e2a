-- nvim-lint linter for .ttidef files, from `tapesync check --format json` (format version 1,
-- docs/editors.md). Use it with:
--
--   local lint = require('lint')
--   lint.linters.tapesync = dofile('/path/to/tapesync/editors/nvim/nvim-lint.lua')
--   lint.linters_by_ft.ttidef = { 'tapesync' }
--
-- The JSON report gives UTF-16 columns; neovim's diagnostics want byte columns, so each one is
-- converted against the buffer's line. Problems located in included files are reported by
-- `tapesync check` for those files and are left out here (they are not in this buffer).

local severities = {
  error = vim.diagnostic.severity.ERROR,
  warning = vim.diagnostic.severity.WARN,
  note = vim.diagnostic.severity.INFO,
}

local function byte_col(bufnr, line, utf16_col)
  local text = vim.api.nvim_buf_get_lines(bufnr, line - 1, line, false)[1] or ''
  local ok, col = pcall(vim.str_byteindex, text, utf16_col - 1, true)
  return ok and col or #text
end

local function parse(output, bufnr)
  local decode = (vim.json and vim.json.decode) or vim.fn.json_decode
  local ok, report = pcall(decode, output)
  if not ok or type(report) ~= 'table' then
    return {}
  end
  local this = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ':p')
  local diagnostics = {}
  for _, d in ipairs(report.diagnostics or {}) do
    if vim.fn.fnamemodify(d.file, ':p') == this then
      local message = d.message
      if type(d.help) == 'string' then
        message = message .. '\nhelp: ' .. d.help
      end
      table.insert(diagnostics, {
        lnum = d.line - 1,
        col = byte_col(bufnr, d.line, d.column_utf16),
        end_lnum = d.end_line - 1,
        end_col = byte_col(bufnr, d.end_line, d.end_column_utf16),
        severity = severities[d.severity] or vim.diagnostic.severity.ERROR,
        message = message,
        source = 'tapesync',
        code = d.code,
      })
    end
  end
  return diagnostics
end

return {
  cmd = 'tapesync',
  stdin = false,
  append_fname = true,
  args = { 'check', '--format', 'json' },
  stream = 'stdout',
  -- Exit status 1 means "the definition has errors", which is what a linter reports.
  ignore_exitcode = true,
  parser = parse,
}
