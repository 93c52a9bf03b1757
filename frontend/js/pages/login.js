// Login page: username + password become an HTTP-only session cookie; then back to where we were.
import { api } from "/js/api.js";
import { h, replaceChildren } from "/js/dom.js";

export async function render(container) {
  const username = h("input", { id: "login-username", name: "username", autocomplete: "username", required: true });
  const password = h("input", {
    id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true,
  });
  const error = h("p", { id: "login-error", class: "field-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary", id: "login-submit" }, "Log in");
  const form = h("form", { id: "login-form", class: "card login" },
    h("h1", {}, "Log in to tricklab"),
    h("label", { for: "login-username" }, "Username"), username,
    h("label", { for: "login-password" }, "Password"), password,
    error, submit,
    h("p", { class: "small muted" },
      "First start? ", h("code", {}, "tricklab up"), " printed the admin's password and a link that logs in."));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    replaceChildren(error);
    try {
      await api.login(username.value, password.value);
      const back = sessionStorage.getItem("tricklab.after-login") || "#/";
      sessionStorage.removeItem("tricklab.after-login");
      window.location.hash = back === "#/login" ? "#/" : back;
    } catch (err) {
      replaceChildren(error, err.status === 401 ? "Wrong username or password." : `Could not log in: ${err.message}`);
    } finally {
      submit.disabled = false;
    }
  });
  container.append(form);
  username.focus();
}
