import { useId, useState, type SyntheticEvent } from 'react';
import { fieldErrorOf, type FieldError } from '../../client/index.js';
import { useManager } from '../ConnectionContext.js';

/** Register or log in; a registration logs in at once. */
export function AuthForm(props: { reason: string | undefined }) {
  const manager = useManager();
  const id = useId();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<FieldError | undefined>();
  const [busy, setBusy] = useState(false);

  const submit = (register: boolean) => async (event?: SyntheticEvent) => {
    event?.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      if (register) await manager.register(username, password);
      await manager.signIn(username, password);
    } catch (caught) {
      setError(fieldErrorOf(caught));
    } finally {
      setBusy(false);
    }
  };

  const fieldError = (field: string) =>
    error?.field === field ? (
      <p className="field-error" id={`${id}-${field}-error`} role="alert">
        {error.message}
      </p>
    ) : null;

  return (
    <section className="panel auth" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Log in or register</h2>
      {props.reason !== undefined && props.reason !== 'signed out' ? (
        <p className="notice" role="status">
          {props.reason}: please log in again.
        </p>
      ) : null}
      <form onSubmit={(event) => void submit(false)(event)}>
        <label htmlFor={`${id}-username`}>Username</label>
        <input
          id={`${id}-username`}
          name="username"
          autoComplete="username"
          value={username}
          aria-invalid={error?.field === 'username'}
          aria-describedby={`${id}-username-error`}
          onChange={(event) => {
            setUsername(event.target.value);
          }}
          required
        />
        {fieldError('username')}
        <label htmlFor={`${id}-password`}>Password</label>
        <input
          id={`${id}-password`}
          name="password"
          type="password"
          autoComplete="current-password"
          value={password}
          aria-invalid={error?.field === 'password'}
          aria-describedby={`${id}-password-error`}
          onChange={(event) => {
            setPassword(event.target.value);
          }}
          required
        />
        {fieldError('password')}
        {error !== undefined && error.field !== 'username' && error.field !== 'password' ? (
          <p className="field-error" role="alert">
            {error.message}
          </p>
        ) : null}
        <div className="actions">
          <button type="submit" disabled={busy}>
            Log in
          </button>
          <button type="button" disabled={busy} onClick={() => void submit(true)()}>
            Register
          </button>
        </div>
      </form>
    </section>
  );
}
